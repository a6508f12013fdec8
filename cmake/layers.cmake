# The layers of circal, lowest first. circal_layer(NAME DIR [DEPS layer...] [LIBS lib...])
# makes a static library of DIR's sources that links only DEPS (and, through them, their
# deps), and records which folders DIR may include from: its own and those of every layer below
# it. circal_layer_check() then makes every layer depend on the layer check
# (cmake/check_layers.cmake), which runs at build time whenever a source or header changes, so
# a back-edge stops the build, incremental or not, instead of creeping in.

function(circal_layer name dir)
  cmake_parse_arguments(L "" "" "DEPS;LIBS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${dir}/*.cpp)
  file(GLOB headers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${dir}/*.hpp)
  list(REMOVE_ITEM sources ${CIRCAL_LAYER_EXCLUDE})
  set(allowed ${dir})
  foreach(dep ${L_DEPS})
    get_property(dep_allowed GLOBAL PROPERTY CIRCAL_LAYER_DIRS_${dep})
    if(NOT dep_allowed)
      message(FATAL_ERROR "layer ${name}: unknown or later layer '${dep}' (declare layers lowest first)")
    endif()
    list(APPEND allowed ${dep_allowed})
  endforeach()
  list(REMOVE_DUPLICATES allowed)
  set_property(GLOBAL PROPERTY CIRCAL_LAYER_DIRS_${name} ${allowed})
  string(REPLACE ";" "," allowed_text "${allowed}")
  set_property(GLOBAL APPEND PROPERTY CIRCAL_LAYER_RULES "${dir}=${allowed_text}")
  set_property(GLOBAL APPEND PROPERTY CIRCAL_LAYER_NAMES ${name})
  set_property(GLOBAL APPEND PROPERTY CIRCAL_LAYER_FILES ${sources} ${headers})
  add_library(${name} STATIC ${sources})
  target_link_libraries(${name} PUBLIC ${L_DEPS} ${L_LIBS})
endfunction()

# After the last circal_layer: the rules file and the build-time check every layer waits for.
function(circal_layer_check)
  get_property(rules GLOBAL PROPERTY CIRCAL_LAYER_RULES)
  get_property(names GLOBAL PROPERTY CIRCAL_LAYER_NAMES)
  get_property(files GLOBAL PROPERTY CIRCAL_LAYER_FILES)
  set(rules_file ${CMAKE_BINARY_DIR}/layers.rules)
  string(REPLACE ";" "\n" rules_text "${rules}")
  file(CONFIGURE OUTPUT ${rules_file} CONTENT "${rules_text}\n")  # rewritten only when it changes
  set(stamp ${CMAKE_BINARY_DIR}/layers.checked)
  add_custom_command(OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${CMAKE_SOURCE_DIR} -DRULES=${rules_file}
            -P ${CMAKE_SOURCE_DIR}/cmake/check_layers.cmake
    COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
    DEPENDS ${files} ${rules_file} ${CMAKE_SOURCE_DIR}/cmake/check_layers.cmake
    COMMENT "Checking the layering of includes")
  add_custom_target(circal_layer_check DEPENDS ${stamp})
  foreach(name ${names})
    add_dependencies(${name} circal_layer_check)
  endforeach()
endfunction()
