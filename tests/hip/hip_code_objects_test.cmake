# The portable kernels were compiled for every architecture asked for: each HIP object of
# dsbench_hip carries one code object per DSB_HIP_ARCHITECTURES entry in its .hip_fatbin section
# (hipcc without --offload-arch would have built gfx803 only, silently).
# Usage: cmake -DOBJECTS=<a.o|b.o> -DARCHS=<gfx90a|gfx940> -DOBJCOPY=<objcopy> -DBUNDLER=<clang-offload-bundler>
#              -DWORK=<dir> -P hip_code_objects_test.cmake
cmake_minimum_required(VERSION 3.25)
string(REPLACE "|" ";" objects "${OBJECTS}")
string(REPLACE "|" ";" archs "${ARCHS}")
file(MAKE_DIRECTORY "${WORK}")
set(failed 0)
set(device_objects 0)
foreach(obj IN LISTS objects)
  if(NOT obj MATCHES "\\.cu\\.o$")
    continue()  # host files (g++) carry no device code
  endif()
  math(EXPR device_objects "${device_objects} + 1")
  get_filename_component(name "${obj}" NAME)
  execute_process(COMMAND "${OBJCOPY}" --dump-section .hip_fatbin=${WORK}/${name}.fatbin "${obj}"
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message("FAIL ${name}: no .hip_fatbin section: ${err}")
    math(EXPR failed "${failed} + 1")
    continue()
  endif()
  execute_process(COMMAND "${BUNDLER}" --list --type=o --input=${WORK}/${name}.fatbin
                  RESULT_VARIABLE rc OUTPUT_VARIABLE targets ERROR_VARIABLE err)
  foreach(arch IN LISTS archs)
    if(targets MATCHES "amdgcn-amd-amdhsa--${arch}(\n|$)")
      message("PASS ${name} has a ${arch} code object")
    else()
      message("FAIL ${name} has no ${arch} code object (bundle: ${targets}${err})")
      math(EXPR failed "${failed} + 1")
    endif()
  endforeach()
endforeach()
if(device_objects EQUAL 0)
  message(FATAL_ERROR "FAIL no HIP objects among: ${OBJECTS}")
endif()
if(failed GREATER 0)
  message(FATAL_ERROR "${failed} check(s) failed")
endif()
file(REMOVE_RECURSE "${WORK}")
