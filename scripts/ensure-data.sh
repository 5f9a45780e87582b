#!/usr/bin/env bash
# Install the embedded default data set (Fashion-MNIST, Debian package) when it is missing.
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ] || [ -f "$dir/train-images-idx3-ubyte" ]; then
  exit 0
fi
echo "Fashion-MNIST is not in $dir: installing the Debian package dataset-fashion-mnist"
if [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist
elif command -v sudo >/dev/null; then
  sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist
else
  echo "error: run 'apt-get install dataset-fashion-mnist' as root, or pass --root DIR with the four IDX files" >&2
  exit 1
fi
