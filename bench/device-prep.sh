#!/bin/bash
# The carry of a device run (issue 21), from a git worktree whose node_modules is a symlink: what
# ../shared/device/prep.sh packs (Node, node_modules with Dawn's linux-x64 binary only, the Vulkan/EGL loaders),
# without the packages no device run loads (plots, bundlers, dev tools), so that .devcarry + .gl + dist stay
# under the 64 MiB a run may carry. Run from the project root after `npm run build`:
#   bash bench/device-prep.sh        then carry: .devcarry .gl dist
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
shared=$(dirname "$(readlink -f "$0")")/../../shared/device
[ -f "$shared/setup-on-gpu.sh" ] || shared=/work/shared/device
exclude=$(git rev-parse --git-path info/exclude)   # a worktree's .git is a file
mkdir -p "$(dirname "$exclude")"
for p in /.devcarry/ /.gl/; do grep -qx "$p" "$exclude" 2>/dev/null || echo "$p" >> "$exclude"; done
mkdir -p .devcarry .gl /tmp/amd64/partial
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then   # Vulkan/EGL loaders; the NVIDIA driver is there
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update -qq
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2>/dev/null)
fi
rm -f .devcarry/node.xz .devcarry/deno.xz
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" > .devcarry/node.xz
modules=$(readlink -f node_modules)   # the real folder (a worktree links the main checkout's)
tar -C "$(dirname "$modules")" -cf - \
  --exclude='node_modules/webgpu/dist/darwin*' --exclude='node_modules/webgpu/dist/win32*' \
  --exclude='node_modules/webgpu/dist/linux-arm64*' --exclude='node_modules/.cache' \
  --exclude='node_modules/typescript' --exclude='node_modules/@esbuild' --exclude='node_modules/esbuild' \
  --exclude='node_modules/vitest' --exclude='node_modules/@vitest' --exclude='node_modules/deno' \
  --exclude='node_modules/@deno' --exclude='node_modules/playwright-core' --exclude='node_modules/vite' \
  --exclude='node_modules/vega' --exclude='node_modules/vega-*' --exclude='node_modules/@resvg' \
  --exclude='node_modules/@rolldown' --exclude='node_modules/rolldown' --exclude='node_modules/lightningcss*' \
  --exclude='node_modules/@types' \
  "$(basename "$modules")" | xz -T0 -6 > .devcarry/node_modules.tar.xz
cp "$shared/setup-on-gpu.sh" .devcarry/
cp "$shared/keops_scheme_ref.cu" "$shared/torch_dense_ref.py" .devcarry/
du -ch .devcarry/* .gl dist | tail -1
echo 'carry: .devcarry .gl dist (dist/ is git-ignored); keep it under 64 MiB'
