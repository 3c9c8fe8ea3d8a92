# Checks that a HIP compiler knows every requested GPU architecture, by compiling a trivial kernel
# for each one with hipcc. Safe in script mode (cmake -P), so tests/hip/ can test it in isolation.
#
# Why compile instead of trusting the name: Debian's hipcc 5.2.3 (LLVM 15) knows gfx90a and gfx940
# but not gfx942, and without --offload-arch it quietly builds gfx803 and returns 0
# (../shared/TOOLCHAIN.md). A failed compile names the architecture here, once, at configure time,
# instead of a wall of clang errors per source file at build time.
#
#   dsb_hip_check_architectures(HIPCC <hipcc> ARCHITECTURES <a;b> WORKDIR <dir>
#                               RESULT <var> MESSAGE <var>)
# RESULT: TRUE when every architecture compiles. MESSAGE: empty, or one line naming each
# architecture the compiler refused, with the compiler's own first error line.
function(dsb_hip_check_architectures)
  cmake_parse_arguments(A "" "HIPCC;WORKDIR;RESULT;MESSAGE" "ARCHITECTURES" ${ARGN})
  if(NOT A_ARCHITECTURES)
    set(${A_RESULT} FALSE PARENT_SCOPE)
    set(${A_MESSAGE} "DSB_HIP_ARCHITECTURES is empty: name at least one GPU architecture (e.g. gfx90a;gfx940)" PARENT_SCOPE)
    return()
  endif()
  file(MAKE_DIRECTORY "${A_WORKDIR}")
  set(probe "${A_WORKDIR}/dsb_hip_arch_probe.hip")
  file(WRITE "${probe}" "#include <hip/hip_runtime.h>\n__global__ void dsb_probe(int* p) { p[threadIdx.x] = warpSize; }\n")
  set(refused "")
  foreach(arch IN LISTS A_ARCHITECTURES)
    if(NOT arch MATCHES "^gfx[0-9a-f]+(:[a-z-]+[+-])*$")
      list(APPEND refused "${arch} (not a gfx target id: expected e.g. gfx90a or gfx942:sramecc+:xnack-)")
      continue()
    endif()
    execute_process(
      COMMAND "${A_HIPCC}" --offload-arch=${arch} -std=c++17 -c "${probe}" -o "${A_WORKDIR}/dsb_hip_arch_probe_${arch}.o"
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
    if(NOT rc EQUAL 0)
      string(REGEX MATCH "error: [^\n]*" first "${err}${out}")
      if(NOT first)
        set(first "exit status ${rc}")
      endif()
      list(APPEND refused "${arch} (${first})")
    endif()
  endforeach()
  if(refused)
    list(JOIN refused "; " refused)
    set(${A_RESULT} FALSE PARENT_SCOPE)
    set(${A_MESSAGE} "the HIP compiler ${A_HIPCC} does not know GPU architecture ${refused}. Set DSB_HIP_ARCHITECTURES to architectures it knows (Debian's hipcc 5.2: gfx90a, gfx940; gfx942 and gfx950 need a newer ROCm, e.g. 6.x)" PARENT_SCOPE)
  else()
    set(${A_RESULT} TRUE PARENT_SCOPE)
    set(${A_MESSAGE} "" PARENT_SCOPE)
  endif()
endfunction()
