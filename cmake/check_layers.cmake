# The layer check (cmake -DSOURCE_DIR=... -DRULES=... -P check_layers.cmake): every .cpp and
# .hpp of a layer's folder may include headers of its own folder and of the layers below it
# only. RULES has one line per layer, "dir=allowed,allowed,...", written by layers.cmake at
# configure time; the build runs this whenever a source changes, so a back-edge in an existing
# file fails an incremental build, and `make lint` runs it too.
file(STRINGS ${RULES} rules)
set(failures 0)
foreach(rule ${rules})
  string(REPLACE "=" ";" parts "${rule}")
  list(GET parts 0 dir)
  list(GET parts 1 allowed_text)
  string(REPLACE "," ";" allowed "${allowed_text}")
  file(GLOB files ${SOURCE_DIR}/${dir}/*.cpp ${SOURCE_DIR}/${dir}/*.hpp)
  foreach(file ${files})
    file(STRINGS ${file} includes REGEX "^#include \"")
    foreach(line ${includes})
      string(REGEX REPLACE "^#include \"([^\"]+)/[^/\"]+\".*" "\\1" include_dir "${line}")
      list(FIND allowed ${include_dir} found)
      if(found EQUAL -1)
        file(RELATIVE_PATH rel ${SOURCE_DIR} ${file})
        message(NOTICE "${rel}: ${line} reaches above its layer (${dir} may use: ${allowed_text})")
        math(EXPR failures "${failures} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()
if(failures GREATER 0)
  message(FATAL_ERROR "layer check: ${failures} include(s) against the layering (cmake/layers.cmake)")
endif()
