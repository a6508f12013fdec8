# libFuzzer harnesses (tests/fuzz/fuzz_NAME.cpp, seeds in tests/fuzz/corpus/NAME/).
# CIRCAL_FUZZ=ON (clang, build-fuzz): one libFuzzer binary per harness over a library of only
# the sources they drive. Normal builds: the same harnesses under replay_main, one ctest entry
# per corpus, so committed crash inputs stay fixed without clang.
set(CIRCAL_FUZZ_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz)
file(GLOB CIRCAL_FUZZ_HARNESSES CONFIGURE_DEPENDS ${CIRCAL_FUZZ_DIR}/fuzz_*.cpp)

# Keeps in `var` only the product sources the harnesses reach (the rest of the pipeline would
# only lengthen the instrumented build).
function(circal_fuzz_sources var)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CIRCAL_FUZZ needs clang (libFuzzer): configure with CXX=clang++ CC=clang")
  endif()
  set(reached pipeline/io/safetensors.cpp pipeline/model/llama_config.cpp pipeline/config/config.cpp
      pipeline/config/config_fields.cpp pipeline/io/checkpoint_reader.cpp pipeline/io/hdf5_tree.cpp pipeline/io/input_files.cpp
      pipeline/model/tokenizer.cpp pipeline/model/hf_tokenizer.cpp pipeline/model/added_tokens.cpp
      pipeline/model/bpe_model.cpp pipeline/model/byte_level_alphabet.cpp pipeline/model/pre_tokenizer.cpp
      pipeline/model/split_regex.cpp pipeline/model/text_normalizer.cpp pipeline/model/token_decoder.cpp
      pipeline/model/utf8_text.cpp stages/calibrate/calibration_data.cpp pipeline/model/ops/kl_divergence.cpp
      pipeline/model/ops/teacher_kl.cpp pipeline/model/ops/vector_exp.cpp)
  list(TRANSFORM reached PREPEND ${CMAKE_SOURCE_DIR}/)
  set(${var} ${reached} PARENT_SCOPE)
  add_compile_options(-fsanitize=fuzzer-no-link)
endfunction()

function(circal_fuzz_harnesses)
  foreach(src ${CIRCAL_FUZZ_HARNESSES})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${name} PRIVATE circal_core)
  endforeach()
endfunction()

# Normal build: replay every committed input of each harness.
function(circal_fuzz_replay_tests)
  foreach(src ${CIRCAL_FUZZ_HARNESSES})
    get_filename_component(name ${src} NAME_WE)
    string(REGEX REPLACE "^fuzz_" "" corpus ${name})
    add_executable(replay_${name} ${src} ${CIRCAL_FUZZ_DIR}/replay_main.cpp)
    target_link_libraries(replay_${name} PRIVATE circal_core)
    add_test(NAME fuzz_replay_${corpus} COMMAND replay_${name} ${CIRCAL_FUZZ_DIR}/corpus/${corpus})
    set_tests_properties(fuzz_replay_${corpus} PROPERTIES ENVIRONMENT "${CIRCAL_TEST_ENV}" TIMEOUT 120)
  endforeach()
endfunction()
