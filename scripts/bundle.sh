#!/usr/bin/env bash
# Package built tailor binaries with the shared libraries a bare machine may lack (oneDNN, stb, libjpeg,
# OpenMP, the OpenCL loader oneDNN links), to run them where the build dependencies are not installed:
# typically a GPU node that has the NVIDIA driver, CUDA and cuDNN but not Debian's libdnnl / libstb.
# The C/C++ runtime (glibc, libstdc++, libgcc) and the NVIDIA libraries (cudart, cuBLAS, cuDNN, NCCL,
# the driver) are left out: they must come from the target, in a version the build is compatible with.
#
# Usage: scripts/bundle.sh BUILD_DIR OUT.tar.xz [PROGRAM ...]      (default PROGRAM: tailor)
#   e.g. scripts/bundle.sh build-portable tailor-bundle.tar.xz tailor test_cuda   (a -DTAILOR_NATIVE=OFF build)
# On the target:
#   tar -xJf tailor-bundle.tar.xz
#   tailor-bundle/tailor train --config ...   (each PROGRAM gets a wrapper = `run PROGRAM`, which puts lib/
#                                             and $TAILOR_CUDA_LIBS on LD_LIBRARY_PATH and execs bin/PROGRAM)
# Where cuDNN / cuBLAS are not on the loader's path, name their folders in TAILOR_CUDA_LIBS (colon-separated);
# `tailor-bundle/run --check tailor` lists what the loader still cannot find (cuBLAS too, which the CUDA
# backend opens when it starts instead of linking it: ldd does not list it).
# BUNDLE_MPIRUN=1 adds the Open MPI 4 launcher the programs were linked against (orterun, orted, Open MPI's and
# PMIx's plugins and help texts, and their libraries) as tailor-bundle/mpirun, for a target without Open MPI:
#   tailor-bundle/mpirun -np 2 tailor-bundle/tailor train ...   (OPAL_PREFIX relocates it; it defaults to the
#   ob1/vader/tcp transports, without single-copy, which need nothing from the target's kernel)
set -euo pipefail
[ $# -ge 2 ] || { awk 'NR > 1 && /^#/ {print; next} NR > 1 {exit}' "$0" >&2; exit 2; }
build=$1 out=$2
shift 2
programs=("$@")
[ ${#programs[@]} -gt 0 ] || programs=(tailor)

# Libraries every Linux target has, and the NVIDIA stack the target must provide.
keep_out='^(linux-vdso|ld-linux|libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt|libcudnn[a-z_]*|libnccl|libnvrtc|libnvJitLink)\.so'

# -march=native code may use instructions the target's CPU lacks (SIGILL before any work): a bundle is built
# portable (cmake -DTAILOR_NATIVE=OFF; oneDNN still picks the target's best kernels at run time).
if grep -q '^TAILOR_NATIVE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null && [ -z "${BUNDLE_NATIVE_OK:-}" ]; then
  echo "bundle: $build was configured with TAILOR_NATIVE=ON (-march=native): its binaries may not run on another" >&2
  echo "  CPU. Make a portable build (TAILOR_BUILD_DIR=build-portable TAILOR_CMAKE_ARGS=-DTAILOR_NATIVE=OFF" >&2
  echo "  TAILOR_BUILD_TARGET=all bash scripts/setup.sh) or set BUNDLE_NATIVE_OK=1 when the target has this" >&2
  echo "  CPU's instruction set." >&2
  exit 2
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/tailor-bundle
mkdir -p "$root/bin" "$root/lib"
for p in "${programs[@]}"; do
  [ -x "$build/$p" ] || { echo "bundle: $build/$p not found or not executable" >&2; exit 2; }
  cp "$build/$p" "$root/bin/"
  # "libfoo.so.1 => /path/libfoo.so.1 (0x...)"; a "not found" here means the build machine itself lacks it.
  if ldd "$build/$p" | grep -q "not found"; then
    echo "bundle: $build/$p has unresolved libraries on this machine:" >&2
    ldd "$build/$p" | grep "not found" >&2
    exit 1
  fi
  ldd "$build/$p" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r name path; do
    if ! [[ $name =~ $keep_out ]]; then cp -L "$path" "$root/lib/$name"; fi
  done
done

# copy_libs FILE...: every library the files need into lib/ (not the target's own: keep_out; missing ones, of
# transports the target would not use, are left out)
copy_libs() {
  for f in "$@"; do
    ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r name path; do
      if ! [[ $name =~ $keep_out ]] && [ ! -e "$root/lib/$name" ]; then cp -L "$path" "$root/lib/$name"; fi
    done
  done
}
if [ "${BUNDLE_MPIRUN:-0}" = 1 ]; then
  ompi=/usr/lib/x86_64-linux-gnu/openmpi pmix=/usr/lib/x86_64-linux-gnu/pmix2
  for d in /usr/bin/orterun /usr/bin/orted "$ompi/lib" "$pmix" /usr/share/openmpi; do
    [ -e "$d" ] || { echo "bundle: BUNDLE_MPIRUN: $d not found (Debian's openmpi-bin 4.x layout expected)" >&2; exit 2; }
  done
  # the same tree under ompi/ (OPAL_PREFIX=ompi/usr: Open MPI finds its plugins and texts relative to it)
  (cd / && tar -cf - usr/bin/orterun usr/bin/orted "${ompi#/}/lib" "${pmix#/}" usr/share/openmpi) |
    (mkdir -p "$root/ompi" && tar -xf - -C "$root/ompi")
  ln -s orterun "$root/ompi/usr/bin/mpirun"
  mapfile -t plugins < <(find "$ompi/lib" "$pmix" -name '*.so*' -type f)
  copy_libs /usr/bin/orterun /usr/bin/orted "${plugins[@]}"
  cat > "$root/mpirun" <<'EOF'
#!/usr/bin/env bash
# Open MPI's mpirun from this bundle (relocated with OPAL_PREFIX); the transports default to ones that need
# nothing from the target's kernel or network cards (override with OMPI_MCA_* in the environment).
here=$(cd "$(dirname "$0")" && pwd)
usr=$here/ompi/usr
export OPAL_PREFIX=$usr PATH="$usr/bin:$PATH"
export LD_LIBRARY_PATH="$here/lib:$usr/lib/x86_64-linux-gnu/openmpi/lib:$usr/lib/x86_64-linux-gnu/pmix2/lib${TAILOR_CUDA_LIBS:+:$TAILOR_CUDA_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1} OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader,tcp}
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
export OMPI_MCA_osc=${OMPI_MCA_osc:-^ucx} OMPI_MCA_mtl=${OMPI_MCA_mtl:-^ofi,psm,psm2}
export PMIX_MCA_pcompress_base_silence_warning=${PMIX_MCA_pcompress_base_silence_warning:-1}
exec "$usr/bin/orterun" "$@"
EOF
  chmod +x "$root/mpirun"
fi

# the libraries the CUDA backend opens at run time (cmake/cuda.cmake), one per line, for `run --check`
sed -n 's/^TAILOR_OPENED_LIBS:INTERNAL=//p' "$build/CMakeCache.txt" | tr ';' '\n' | sed '/^$/d' > "$root/opened-libs"
cat > "$root/run" <<'EOF'
#!/usr/bin/env bash
# run PROGRAM [ARGS...]: PROGRAM from this bundle's bin/ with its lib/ (and $TAILOR_CUDA_LIBS) on the
# loader's path. run --check PROGRAM: print the libraries the loader cannot find.
here=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$here/lib${TAILOR_CUDA_LIBS:+:$TAILOR_CUDA_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ "${1:-}" = --check ]; then
  libs=$(ldd "$here/bin/$2")
  missing=$(grep "not found" <<< "$libs" || true)
  # opened at run time: on LD_LIBRARY_PATH, beside the CUDA runtime the program links, or in the loader's cache
  IFS=: read -ra dirs <<< "$LD_LIBRARY_PATH"
  dirs+=($(awk '$1 ~ /^libcudart\.so/ && $3 ~ /^\// {sub(/\/[^\/]*$/, "", $3); print $3}' <<< "$libs"))
  for so in $(cat "$here/opened-libs" 2>/dev/null); do
    found=
    for d in "${dirs[@]}"; do [ -n "$d" ] && [ -e "$d/$so" ] && found=1; done
    [ -n "$found" ] || { PATH=$PATH:/sbin:/usr/sbin ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$so " && found=1; }
    [ -n "$found" ] || missing+="${missing:+$'\n'}	$so => not found (opened when the CUDA backend starts)"
  done
  [ -z "$missing" ] && { echo "all libraries found"; exit 0; }
  echo "$missing"; echo "set TAILOR_CUDA_LIBS to the folders holding them" >&2; exit 1
fi
[ $# -ge 1 ] && [ -x "$here/bin/$1" ] || { echo "usage: $0 PROGRAM [ARGS...]; programs: $(ls "$here/bin")" >&2; exit 2; }
prog=$1; shift
exec "$here/bin/$prog" "$@"
EOF
chmod +x "$root/run"
for p in "${programs[@]}"; do
  printf '#!/usr/bin/env bash\nexec "$(dirname "$0")/run" %s "$@"\n' "$p" > "$root/$p"
  chmod +x "$root/$p"
done
tar -C "$stage" -cJf "$out" tailor-bundle
echo "bundle: $out ($(du -h "$out" | cut -f1)): bin/ $(ls "$root/bin" | tr '\n' ' ')lib/ $(ls "$root/lib" | tr '\n' ' ')"
