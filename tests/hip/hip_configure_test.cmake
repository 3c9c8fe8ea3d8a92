# Configure-time behaviour of the HIP backend (cmake/DsbenchHip.cmake, cmake/DsbenchHipCheck.cmake):
#   - the architecture check, in isolation: a bogus architecture is named, a known one is not;
#   - a tiny project with an architecture the compiler does not know: ON fails with ONE error naming
#     it, AUTO configures with HIP off; the same for a missing hipcc; a known one enables HIP.
# Usage: cmake -DSOURCE_ROOT=<repo> -DWORK=<scratch dir> -P hip_configure_test.cmake
# Prints PASS/FAIL per check and `N passed, M failed`; a failed check fails the script.
cmake_minimum_required(VERSION 3.25)
include(${SOURCE_ROOT}/cmake/DsbenchHipCheck.cmake)
set(passed 0)
set(failed 0)
# check(<name> <condition...> WHY <variable>): the condition as if() reads it; on failure the
# variable's value (a configure log) is printed.
function(check name)
  cmake_parse_arguments(C "" "WHY" "" ${ARGN})
  if(${C_UNPARSED_ARGUMENTS})
    math(EXPR n "${passed} + 1")
    set(passed ${n} PARENT_SCOPE)
    message("PASS ${name}")
  else()
    math(EXPR n "${failed} + 1")
    set(failed ${n} PARENT_SCOPE)
    message("FAIL ${name}: ${${C_WHY}}")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
find_program(HIPCC hipcc HINTS ENV ROCM_PATH /opt/rocm PATH_SUFFIXES bin)

# One configure of the probe project; sets rc, log (stdout + stderr) and errors (number of CMake Errors).
function(configure tag)
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_ROOT}/tests/hip/configure_probe -B ${WORK}/${tag} -G Ninja
                          -DDSB_SOURCE_ROOT=${SOURCE_ROOT} ${ARGN}
                  RESULT_VARIABLE r OUTPUT_VARIABLE o ERROR_VARIABLE e TIMEOUT 300)
  string(REGEX MATCHALL "CMake Error" errs "${o}${e}")
  list(LENGTH errs n)
  set(rc ${r} PARENT_SCOPE)
  set(log "${o}${e}" PARENT_SCOPE)
  set(errors ${n} PARENT_SCOPE)
endfunction()

# Missing hipcc (works on every machine).
configure(missing_on -DDSB_ENABLE_HIP=ON -DDSB_HIPCC=/nonexistent/bin/hipcc)
string(FIND "${log}" "DSB_ENABLE_HIP=ON but DSB_HIPCC=/nonexistent/bin/hipcc does not exist" at)
check("missing hipcc with ON: configure fails" NOT rc EQUAL 0 WHY log)
check("missing hipcc with ON: one error naming hipcc" errors EQUAL 1 AND at GREATER -1 WHY log)
configure(missing_auto -DDSB_ENABLE_HIP=AUTO -DDSB_HIPCC=/nonexistent/bin/hipcc)
string(FIND "${log}" "dsbench HIP backend: off: DSB_HIPCC=/nonexistent/bin/hipcc does not exist" at)
string(FIND "${log}" "probe: DSB_WITH_HIP=OFF backends=cpu" off)
check("missing hipcc with AUTO: configures, HIP off, says why" rc EQUAL 0 AND at GREATER -1 AND off GREATER -1 WHY log)
configure(off -DDSB_ENABLE_HIP=OFF -DDSB_HIPCC=/nonexistent/bin/hipcc)
string(FIND "${log}" "probe: DSB_WITH_HIP=OFF" off)
string(FIND "${log}" "HIP backend: off" said)
check("OFF: no check, no message" rc EQUAL 0 AND off GREATER -1 AND said EQUAL -1 WHY log)

if(NOT HIPCC)
  message("hipcc not found: the architecture checks need it (ci/bootstrap.sh installs it)")
else()
  dsb_hip_check_architectures(HIPCC ${HIPCC} ARCHITECTURES "gfx90a;gfx9999" WORKDIR ${WORK}/fn RESULT ok MESSAGE msg)
  string(FIND "${msg}" "does not know GPU architecture gfx9999 (" named)
  string(FIND "${msg}" "gfx90a (" innocent)
  check("check function: a bogus architecture fails and is named" NOT ok AND named GREATER -1 WHY msg)
  check("check function: the known architecture is not blamed" innocent EQUAL -1 WHY msg)
  dsb_hip_check_architectures(HIPCC ${HIPCC} ARCHITECTURES "sm_90" WORKDIR ${WORK}/fn RESULT ok MESSAGE msg)
  string(FIND "${msg}" "sm_90 (not a gfx target id" named)
  check("check function: a CUDA architecture is refused by name" NOT ok AND named GREATER -1 WHY msg)
  dsb_hip_check_architectures(HIPCC ${HIPCC} ARCHITECTURES "" WORKDIR ${WORK}/fn RESULT ok MESSAGE msg)
  check("check function: an empty list is refused" NOT ok WHY msg)

  configure(bogus_on -DDSB_ENABLE_HIP=ON -DDSB_HIP_ARCHITECTURES=gfx9999)
  string(FIND "${log}" "DSB_ENABLE_HIP=ON but the HIP compiler" at)
  string(FIND "${log}" "gfx9999" named)
  check("bogus architecture with ON: configure fails" NOT rc EQUAL 0 WHY log)
  check("bogus architecture with ON: one error naming gfx9999" errors EQUAL 1 AND at GREATER -1 AND named GREATER -1 WHY log)
  configure(bogus_auto -DDSB_ENABLE_HIP=AUTO -DDSB_HIP_ARCHITECTURES=gfx9999)
  string(FIND "${log}" "dsbench HIP backend: off: the HIP compiler" at)
  string(FIND "${log}" "probe: DSB_WITH_HIP=OFF backends=cpu" off)
  check("bogus architecture with AUTO: configures with HIP off and says why" rc EQUAL 0 AND at GREATER -1 AND off GREATER -1 WHY log)
  configure(good -DDSB_ENABLE_HIP=ON -DDSB_HIP_ARCHITECTURES=gfx90a)
  string(FIND "${log}" "probe: DSB_WITH_HIP=ON backends=cpu;hip" on)
  check("a known architecture with ON: HIP enabled (enable_language(HIP) works)" rc EQUAL 0 AND on GREATER -1 WHY log)
endif()

message("${passed} passed, ${failed} failed")
if(failed GREATER 0)
  message(FATAL_ERROR "${failed} check(s) failed; scratch projects kept in ${WORK}")
endif()
file(REMOVE_RECURSE "${WORK}")
