#!/usr/bin/env bash
# Regenerate every README screenshot (resources/screenshots/), offscreen, at 1280×800.
#   tools/screenshots.sh            all of them
#   tools/screenshots.sh classify   only those whose file name contains "classify"
# Each line is one `cnn-explorer gui --screenshot` (or the CLI's `erf --out`); the README names the
# same arguments. The Export-to-ONNX dialog's picture (export-dialog.png) is not a window
# screenshot and is not remade here.
set -euo pipefail
cd "$(dirname "$0")/.."
app=${CNN_EXPLORER:-.venv/bin/cnn-explorer}
out=resources/screenshots
size=1280x800
cat=resources/images/cat-chelsea.png
only=${1:-}

shot() {  # shot NAME ARGS...: one screenshot, unless a filter is given that NAME does not match
    local name=$1; shift
    [[ -n "$only" && "$name" != *"$only"* ]] && return 0
    echo "$name"
    QT_QPA_PLATFORM=offscreen "$app" gui "$@" --size "$size" --screenshot "$out/$name.png" >/dev/null
}

shot resnet152-glance --model resnet152 --expand layer3 --select layer3.0
shot googlenet-left-to-right --model googlenet --graph-layout left-right --expand inception3a-3b,inception3a
shot resnet50-shortcuts --model resnet50 --expand layer1.0,layer2.0
shot alexnet-2gpu --model alexnet_2gpu --select tower0.conv3
shot resnet50-charts --model resnet50 --view charts
shot compare-vgg16-resnet18 --model vgg16 --view compare --compare resnet18
shot reconcile-resnet50 --model resnet50 --view reconcile --convention fvcore
shot alexnet-table --model alexnet --view table
shot classify --model efficientnet_lite0 --view classify
shot features-vgg16-resnet18 --model vgg16 --view features --select features.0 --compare resnet18
shot features-googlenet-inception3a --model googlenet --view features --select inception3a
shot features-resnet50-block --model resnet50 --view features --select layer2.0
shot erf-lite0-features --model efficientnet_lite0 --view features --select _blocks.5._project_conv --at 7,7
shot explain-lite0-cat --model efficientnet_lite0 --view explain --method gradcam,guided
shot weights-lite0-stem --model efficientnet_lite0 --select _conv_stem
shot whatif-alexnet-conv1 --model alexnet --input 3x224x224 --view whatif --edit features.0.kernel_size=7 \
    --edit features.0.stride=2 --edit features.0.padding=1 --select features.0
shot lesson-vgg-7x7 --model vgg16 --view whatif --lesson vgg-7x7
if [[ -z "$only" || erf-lite0-blocks5 == *"$only"* ]]; then
    echo erf-lite0-blocks5
    "$app" erf efficientnet_lite0 "$cat" --layer _blocks.5._project_conv --at 7,7 --out "$out/erf-lite0-blocks5.png" >/dev/null
fi
