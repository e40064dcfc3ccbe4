// The independent runtime: runs every model that tests/lua/onnx.lua
// exported under ONNX Runtime (the npm package onnxruntime-node, whose Linux
// x64 libraries ship inside it) and compares its outputs with Neurite's.
// usage: node ort_check.js <folder with ort_cases.txt> <folder holding node_modules>
// Exit 0: every output within 1e-5 relative; 1: a mismatch; 77: skipped
// (onnxruntime-node is not installed; tools/install-onnxruntime.sh installs it).
'use strict';
const fs = require('fs');
const path = require('path');

const [dir, ortRoot] = process.argv.slice(2);
let ort;
try {
  ort = require(path.join(ortRoot, 'node_modules', 'onnxruntime-node'));
} catch (e) {
  console.log(`SKIPPED: onnxruntime-node is not installed under ${ortRoot} ` +
              `(tools/install-onnxruntime.sh installs it): ${e.message.split('\n')[0]}`);
  process.exit(77);
}

// A float32 .npy as Neurite writes it (format 1.0, C order).
function loadNpy(file) {
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const headerLength = b.readUInt16LE(8);
  const header = b.toString('latin1', 10, 10 + headerLength);
  if (!header.includes("'descr': '<f4'")) throw new Error(`${file}: not float32: ${header}`);
  const dims = header.match(/'shape': \(([^)]*)\)/)[1].split(',').map(s => s.trim()).filter(s => s).map(Number);
  const count = dims.reduce((a, d) => a * d, 1);
  const data = new Float32Array(count);
  for (let i = 0; i < count; ++i) data[i] = b.readFloatLE(10 + headerLength + 4 * i);
  return new ort.Tensor('float32', data, dims);
}

async function main() {
  const lines = fs.readFileSync(path.join(dir, 'ort_cases.txt'), 'utf8').split('\n').filter(l => l);
  let worst = 0;
  for (const line of lines) {
    const [name, inputs, outputs, ...what] = line.split(' ');
    const session = await ort.InferenceSession.create(path.join(dir, `${name}.onnx`));
    const feeds = {};
    for (let i = 1; i <= Number(inputs); ++i) feeds[`input${i}`] = loadNpy(path.join(dir, `${name}_in${i}.npy`));
    const results = await session.run(feeds);
    for (let k = 1; k <= Number(outputs); ++k) {
      const want = loadNpy(path.join(dir, `${name}_out${k}.npy`));
      const got = results[`output${k}`];
      if (!got || got.data.length !== want.data.length) throw new Error(`${what.join(' ')}: output${k} has another size`);
      let diff = 0, scale = 1e-30;
      for (let i = 0; i < want.data.length; ++i) {
        diff = Math.max(diff, Math.abs(got.data[i] - want.data[i]));
        scale = Math.max(scale, Math.abs(want.data[i]));
      }
      const rel = diff / scale;
      worst = Math.max(worst, rel);
      if (rel > 1e-5) {
        console.log(`MISMATCH ${what.join(' ')}: output${k} relative difference ${rel}`);
        process.exit(1);
      }
    }
  }
  console.log(`onnxruntime-node ${ort.env.versions ? ort.env.versions.common : ''}: ${lines.length} exported ` +
              `models match Neurite (worst relative difference ${worst.toExponential(2)})`);
}

main().catch(e => { console.log(`ERROR: ${e.message}`); process.exit(1); });
