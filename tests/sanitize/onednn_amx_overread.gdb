# Shows oneDNN 2.6.3's one-past-the-end read in its AMX brgemm micro-kernel
# generator (the reason `make check-sanitize` caps ONEDNN_MAX_CPU_ISA below
# AMX; see the Makefile). Any build, no sanitizer needed, an AMX CPU:
#   cd build && OMP_NUM_THREADS=2 QT_QPA_PLATFORM=offscreen \
#     gdb -batch -x ../tests/sanitize/onednn_amx_overread.gdb --args bin/tst_conv
# Each line printed is one read of skipped_bd_mask_buffer_[index] while the
# vector holds `holds` elements; index == holds is the read past its end.
# The offsets are those of Debian 12's libdnnl.so.2.6 (2.6.3): the load at
# +0x6bf1ef in jit_brgemm_amx_uker_base_t::gemm_microkernel_amx, `this` in
# r14, the index in r15, the vector's begin and end at this+0xdb8 / +0xdc0.
set pagination off
set breakpoint pending on
break dnnl_primitive_create
run
delete
break *((char *)dnnl_primitive_create + 0x6bf1ef - 0x17bc10)
commands
silent
printf "skipped_bd_mask_buffer_[%d], holds %d\n", $r15, ((*(long *)($r14 + 0xdc0)) - (*(long *)($r14 + 0xdb8))) / 8
continue
end
continue
