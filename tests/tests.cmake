# Test wiring. MPI settings that CI needs (root, 4 ranks on 2 cores) live here, not in the
# user's shell.
set(CIRCAL_TEST_ENV
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
  CIRCAL_SOURCE_DIR=${CMAKE_SOURCE_DIR} CIRCAL_BIN=$<TARGET_FILE:circal>
  CIRCAL_REFERENCE_DIR=${CMAKE_SOURCE_DIR}/tests/reference
  CIRCAL_TOKENIZER_IDS=$<TARGET_FILE:tokenizer_ids> CIRCAL_NPM_DIR=${CMAKE_BINARY_DIR}/npm)

# circal's side of the tokenizer.json reference test and benchmark (tests/tokenizers/).
add_executable(tokenizer_ids ${CMAKE_SOURCE_DIR}/tests/tokenizers/tokenizer_ids.cpp)
target_link_libraries(tokenizer_ids PRIVATE circal_core)

# Serial unit tests: one doctest binary, every tests/unit/*.cpp file.
file(GLOB UNIT_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/*.cpp)
add_executable(unit_tests ${UNIT_TEST_SOURCES} ${CMAKE_SOURCE_DIR}/tests/doctest_mpi_main.cpp)
target_link_libraries(unit_tests PRIVATE circal_core doctest::doctest)
# One ctest entry per test file (doctest's --source-file filter): test-case names are free
# text, which doctest_discover_tests cannot always quote for CMake.
foreach(src ${UNIT_TEST_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME unit_${name} COMMAND unit_tests --no-colors --source-file=*/tests/unit/${name}.cpp)
  set_tests_properties(unit_${name} PROPERTIES ENVIRONMENT "${CIRCAL_TEST_ENV}" TIMEOUT 600
                       FAIL_REGULAR_EXPRESSION "test cases: 0 \\|")
endforeach()

# MPI tests: each tests/mpi/NAME.cpp is its own binary, run at 1, 2 and 4 ranks.
file(GLOB MPI_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/mpi/*.cpp)
foreach(src ${MPI_TEST_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(mpi_${name} ${src} ${CMAKE_SOURCE_DIR}/tests/doctest_mpi_main.cpp)
  target_link_libraries(mpi_${name} PRIVATE circal_core doctest::doctest)
  foreach(np 1 2 4)
    add_test(NAME mpi_${name}_np${np}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} ${MPIEXEC_PREFLAGS}
                     $<TARGET_FILE:mpi_${name}> --no-colors ${MPIEXEC_POSTFLAGS})
    set_tests_properties(mpi_${name}_np${np} PROPERTIES ENVIRONMENT "${CIRCAL_TEST_ENV}"
                         RUN_SERIAL TRUE TIMEOUT 600)
  endforeach()
endforeach()

# End-to-end tests: each tests/e2e/NAME.sh drives build/circal.
file(GLOB E2E_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/e2e/*.sh)
foreach(script ${E2E_TESTS})
  get_filename_component(name ${script} NAME_WE)
  add_test(NAME e2e_${name} COMMAND bash ${script})
  set_tests_properties(e2e_${name} PROPERTIES ENVIRONMENT "${CIRCAL_TEST_ENV}"
                       RUN_SERIAL TRUE TIMEOUT 900 WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
                       SKIP_REGULAR_EXPRESSION "^SKIP:")
endforeach()

# Fuzz corpora (seeds and every crash input found) replayed through the harnesses.
include(${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz.cmake)
circal_fuzz_replay_tests()
