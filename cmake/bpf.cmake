# bpf_skeleton(target OUTPUT_NAME name SOURCES a.bpf.c ...): compiles each BPF source with a
# depfile (so a change to any included header rebuilds it), links the objects into one with
# `bpftool gen object`, and exposes `<name>.skel.h` through an INTERFACE target.
find_program(BPF_CLANG NAMES clang-14 clang REQUIRED)
find_program(BPFTOOL bpftool PATHS /usr/sbin /sbin REQUIRED)

function(bpf_skeleton target)
  cmake_parse_arguments(ARG "" "OUTPUT_NAME" "SOURCES" ${ARGN})
  set(out_dir ${CMAKE_BINARY_DIR}/bpf)
  file(MAKE_DIRECTORY ${out_dir})
  execute_process(COMMAND uname -m OUTPUT_VARIABLE machine OUTPUT_STRIP_TRAILING_WHITESPACE)
  # The build claims x86_64 only: it is the one architecture with a checked-in vmlinux.h
  # (bpf/vmlinux/<arch>/, made by scripts/gen-vmlinux) and the one the syscall-argument reads
  # (PT_REGS_PARM*_SYSCALL, __TARGET_ARCH_x86) are tested on. Another needs its header, its
  # __TARGET_ARCH_ name here, and a test run.
  if(machine STREQUAL "x86_64")
    set(bpf_arch x86)
  else()
    message(FATAL_ERROR "exfilwatch's BPF programs build for x86_64 only (this host is ${machine}); "
                        "configure with -DEXFILWATCH_BPF=OFF for the userspace stages alone")
  endif()
  set(objects)
  foreach(src ${ARG_SOURCES})
    get_filename_component(stem ${src} NAME_WE)
    set(obj ${out_dir}/${stem}.bpf.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${BPF_CLANG} -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${bpf_arch}
              -Wall -Wextra -Wno-unused-function
              -I${CMAKE_SOURCE_DIR}/bpf/include -I${CMAKE_SOURCE_DIR}/bpf/vmlinux/${machine}
              -MD -MF ${obj}.d -c ${CMAKE_SOURCE_DIR}/${src} -o ${obj}
      DEPFILE ${obj}.d
      DEPENDS ${CMAKE_SOURCE_DIR}/${src}
      COMMENT "BPF ${src}")
    list(APPEND objects ${obj})
  endforeach()
  set(linked ${out_dir}/${ARG_OUTPUT_NAME}.bpf.o)
  set(skel ${out_dir}/${ARG_OUTPUT_NAME}.skel.h)
  add_custom_command(
    OUTPUT ${linked} ${skel}
    COMMAND ${BPFTOOL} gen object ${linked} ${objects}
    COMMAND ${BPFTOOL} gen skeleton ${linked} name ${ARG_OUTPUT_NAME} > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${objects}
    COMMENT "BPF skeleton ${ARG_OUTPUT_NAME}.skel.h")
  add_custom_target(${target}_gen DEPENDS ${skel})
  add_library(${target} INTERFACE)
  add_dependencies(${target} ${target}_gen)
  target_include_directories(${target} INTERFACE ${out_dir})
endfunction()
