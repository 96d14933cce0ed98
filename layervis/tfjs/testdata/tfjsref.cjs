// Reference activations from TensorFlow.js (@tensorflow/tfjs, pure-JS CPU
// backend) for layervis's TF.js loader tests.
//
//   NODE_PATH=DIR/node_modules node tfjsref.cjs MODEL_JSON INPUT_F32 B H W C OUTDIR NODE...
//
// Loads the graph model MODEL_JSON with its weight shards, feeds the
// float32 little-endian NHWC tensor [B,H,W,C] read from INPUT_F32 to the
// model's input, and writes the value of each named NODE to OUTDIR/<k>.f32
// (float32 little-endian, in TF's own layout) and the shapes to
// OUTDIR/shapes.json.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  const [modelJSON, inputFile, b, h, w, c, outDir, ...names] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const mj = JSON.parse(fs.readFileSync(modelJSON, 'utf8'));
  const dir = path.dirname(modelJSON);
  const specs = [];
  const bufs = [];
  for (const g of mj.weightsManifest) {
    specs.push(...g.weights);
    for (const p of g.paths) bufs.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(bufs);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: mj.modelTopology, weightSpecs: specs, weightData,
    format: mj.format, generatedBy: mj.generatedBy, convertedBy: mj.convertedBy,
  }));
  const raw = fs.readFileSync(inputFile);
  const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const x = tf.tensor4d(data, [+b, +h, +w, +c]);
  const inputName = model.inputs[0].name;
  let outs = model.execute({ [inputName]: x }, names);
  if (!Array.isArray(outs)) outs = [outs];
  const shapes = [];
  for (let k = 0; k < outs.length; k++) {
    const v = await outs[k].data();
    fs.writeFileSync(path.join(outDir, `${k}.f32`), Buffer.from(new Float32Array(v).buffer));
    shapes.push(outs[k].shape);
  }
  fs.writeFileSync(path.join(outDir, 'shapes.json'), JSON.stringify(shapes));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
