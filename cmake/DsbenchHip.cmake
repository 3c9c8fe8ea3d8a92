# Decides whether the HIP backend is built. AUTO: whenever hipcc is found and knows every
# architecture in DSB_HIP_ARCHITECTURES (no AMD GPU is needed to compile); otherwise one STATUS line
# says why and the rest builds. ON: the same two conditions, as one FATAL_ERROR. Sets DSB_WITH_HIP,
# appends to DSB_BACKENDS_BUILT, and enables the HIP language.
#
# How HIP is compiled: enable_language(HIP) (clang with -x hip, one --offload-arch per
# DSB_HIP_ARCHITECTURES entry), not add_custom_command around hipcc. The language gives targets
# their include directories, definitions, depfiles, ccache (CMAKE_HIP_COMPILER_LAUNCHER) and
# HIP_ARCHITECTURES, exactly as the CUDA backend gets them; a custom command would re-implement all
# of that by hand. CMake refuses hipcc itself as CMAKE_HIP_COMPILER, so hipcc is used for the
# architecture check only and the language gets the clang that hipcc drives. On a real ROCm install
# (/opt/rocm) CMake finds everything by itself. Debian's packages (hipcc 5.2.3) need three nudges,
# checked with CMake 3.25 (../shared/TOOLCHAIN.md):
#   1. hip-lang's CMake config sits in /usr/lib/<multiarch>/cmake, where CMake's HIP support does not
#      look: CMAKE_HIP_COMPILER_ROCM_ROOT points at a shim folder whose lib/cmake/ links to the Debian
#      dirs, and ENV{CMAKE_PREFIX_PATH} names it too, because enable_language's try_compile project
#      does not inherit our variables.
#   2. hipconfig --hipclangpath says /usr/bin, whose clang++ is Debian's default (14), not hipcc's
#      (15): the compiler is taken from `hipcc --version` (version and InstalledDir).
#   3. that clang does not know Debian's ROCm layout: --rocm-path and --rocm-device-lib-path.
# HIP objects would make every executable that links them link with clang (HIP's linker preference
# propagates through static libraries), and clang's -fopenmp links libomp, not the libgomp our g++
# objects need: the preference is not propagated, so g++ links and adds libamdhip64.
include(${CMAKE_CURRENT_LIST_DIR}/DsbenchHipCheck.cmake)

set(DSB_ENABLE_HIP AUTO CACHE STRING "Build the HIP backend: AUTO, ON or OFF")
set_property(CACHE DSB_ENABLE_HIP PROPERTY STRINGS AUTO ON OFF)
set(DSB_HIP_ARCHITECTURES "gfx90a;gfx940" CACHE STRING
    "GPU architectures the HIP backend is compiled for (gfx90a: MI200; gfx940: MI300, FNUZ FP8; gfx942/gfx950 need a newer ROCm)")

set(DSB_WITH_HIP OFF)
if(NOT DSB_ENABLE_HIP STREQUAL "OFF")
  set(dsb_hip_why "")
  find_program(DSB_HIPCC NAMES hipcc HINTS ENV ROCM_PATH ENV HIP_PATH /opt/rocm PATH_SUFFIXES bin
               DOC "hipcc, used to check DSB_HIP_ARCHITECTURES and to find the HIP clang")
  set(dsb_hipcc_hint "(Debian 12: apt-get install hipcc libamdhip64-dev; ROCm: set ROCM_PATH or DSB_HIPCC)")
  if(NOT DSB_HIPCC)
    set(dsb_hip_why "no hipcc was found ${dsb_hipcc_hint}")
  elseif(NOT EXISTS "${DSB_HIPCC}")
    set(dsb_hip_why "DSB_HIPCC=${DSB_HIPCC} does not exist ${dsb_hipcc_hint}")
  else()
    # Checked once per compiler and architecture list (each architecture costs a compile).
    set(dsb_hip_key "${DSB_HIPCC}|${DSB_HIP_ARCHITECTURES}")
    if(NOT DSB_HIP_ARCHITECTURES_CHECKED STREQUAL dsb_hip_key)
      dsb_hip_check_architectures(HIPCC "${DSB_HIPCC}" ARCHITECTURES "${DSB_HIP_ARCHITECTURES}"
                                  WORKDIR "${CMAKE_BINARY_DIR}/CMakeFiles/dsb_hip_arch_check"
                                  RESULT dsb_hip_ok MESSAGE dsb_hip_why)
      if(dsb_hip_ok)
        set(DSB_HIP_ARCHITECTURES_CHECKED "${dsb_hip_key}" CACHE INTERNAL "hipcc and architectures that compiled")
      endif()
    endif()
  endif()
  if(dsb_hip_why)
    if(DSB_ENABLE_HIP STREQUAL "ON")
      message(FATAL_ERROR "DSB_ENABLE_HIP=ON but ${dsb_hip_why}")
    endif()
    message(STATUS "dsbench HIP backend: off: ${dsb_hip_why}")
  else()
    set(DSB_WITH_HIP ON)
  endif()
endif()

if(DSB_WITH_HIP)
  get_filename_component(dsb_hipcc_real "${DSB_HIPCC}" REALPATH)
  get_filename_component(dsb_rocm_root "${dsb_hipcc_real}" DIRECTORY)
  get_filename_component(dsb_rocm_root "${dsb_rocm_root}" DIRECTORY)  # <root>/bin/hipcc -> <root>
  set(DSB_HIP_ROCM_ROOT "${dsb_rocm_root}")  # kernels/hip/: headers for the host files compiled by g++
  set(dsb_multiarch_cmake "${dsb_rocm_root}/lib/${CMAKE_LIBRARY_ARCHITECTURE}/cmake")
  if(NOT EXISTS "${dsb_rocm_root}/lib/cmake/hip-lang" AND CMAKE_LIBRARY_ARCHITECTURE
     AND EXISTS "${dsb_multiarch_cmake}/hip-lang")
    # Debian layout: nudges 1-3 above.
    set(dsb_shim "${CMAKE_BINARY_DIR}/hip-rocm-root")
    file(MAKE_DIRECTORY "${dsb_shim}/lib/cmake")
    foreach(pkg hip-lang hip amd_comgr hsa-runtime64 AMDDeviceLibs)
      foreach(dir "${dsb_multiarch_cmake}/${pkg}" "${dsb_rocm_root}/lib/cmake/${pkg}")
        if(EXISTS "${dir}" AND NOT EXISTS "${dsb_shim}/lib/cmake/${pkg}")
          file(CREATE_LINK "${dir}" "${dsb_shim}/lib/cmake/${pkg}" SYMBOLIC)
        endif()
      endforeach()
    endforeach()
    set(CMAKE_HIP_COMPILER_ROCM_ROOT "${dsb_shim}")
    if("$ENV{CMAKE_PREFIX_PATH}" STREQUAL "")
      set(ENV{CMAKE_PREFIX_PATH} "${dsb_shim}")
    else()
      set(ENV{CMAKE_PREFIX_PATH} "${dsb_shim}:$ENV{CMAKE_PREFIX_PATH}")
    endif()
    if(NOT CMAKE_HIP_COMPILER)
      execute_process(COMMAND "${DSB_HIPCC}" --version OUTPUT_VARIABLE dsb_v ERROR_VARIABLE dsb_v)
      string(REGEX MATCH "clang version ([0-9]+)" _ "${dsb_v}")
      set(dsb_clang_major "${CMAKE_MATCH_1}")
      string(REGEX MATCH "InstalledDir: ([^\n]+)" _ "${dsb_v}")
      set(dsb_clang_dir "${CMAKE_MATCH_1}")
      if(EXISTS "${dsb_clang_dir}/clang++-${dsb_clang_major}")
        set(CMAKE_HIP_COMPILER "${dsb_clang_dir}/clang++-${dsb_clang_major}")
      elseif(EXISTS "${dsb_clang_dir}/clang++")
        set(CMAKE_HIP_COMPILER "${dsb_clang_dir}/clang++")
      endif()
    endif()
    find_path(DSB_HIP_DEVICE_LIBS hip.bc PATHS "${dsb_rocm_root}/lib/${CMAKE_LIBRARY_ARCHITECTURE}/amdgcn/bitcode"
              "${dsb_rocm_root}/amdgcn/bitcode" NO_DEFAULT_PATH DOC "ROCm device libraries (hip.bc, ocml.bc)")
    set(CMAKE_HIP_FLAGS_INIT "--rocm-path=${dsb_rocm_root}")
    if(DSB_HIP_DEVICE_LIBS)
      string(APPEND CMAKE_HIP_FLAGS_INIT " --rocm-device-lib-path=${DSB_HIP_DEVICE_LIBS}")
    endif()
  endif()
  set(CMAKE_HIP_ARCHITECTURES "${DSB_HIP_ARCHITECTURES}")
  enable_language(HIP)
  set(CMAKE_HIP_LINKER_PREFERENCE_PROPAGATES 0)  # g++ links (see above)
  list(APPEND DSB_BACKENDS_BUILT hip)
  message(STATUS "dsbench HIP backend: ${CMAKE_HIP_COMPILER} (via ${DSB_HIPCC}) for ${DSB_HIP_ARCHITECTURES}")
endif()
