// Compile the system contracts with solcjs (offline) and write their runtime bytecode and ABI
// to deployed/. `--check` compiles into memory and fails if deployed/ differs (CI runs it).
// `--same-as-forge` (after `forge build`/`forge test`) fails if the code forge compiled and
// tested differs from deployed/, i.e. if foundry.toml and these settings have drifted apart.
// The settings below must match foundry.toml.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const solc = require('solc');

const here = path.dirname(new URL(import.meta.url).pathname);
const contracts = ['AccessRegistry', 'KeyRegistry', 'Marketplace', 'NodeRegistry'];

if (process.argv.includes('--same-as-forge')) {
  let differs = false;
  for (const c of contracts) {
    const artifact = path.join(here, 'out', `${c}.sol`, `${c}.json`);
    const forge = JSON.parse(fs.readFileSync(artifact, 'utf8')).deployedBytecode.object.replace(/^0x/, '');
    const committed = fs.readFileSync(path.join(here, 'deployed', `${c}.hex`), 'utf8').trim();
    if (forge !== committed) {
      console.error(`${c}: the code forge tested differs from deployed/${c}.hex (foundry.toml vs build.mjs settings?)`);
      differs = true;
    }
  }
  if (!differs) console.log('forge tested the committed runtime code');
  process.exit(differs ? 1 : 0);
}
const input = {
  language: 'Solidity',
  sources: Object.fromEntries(
    contracts.map((c) => [`src/${c}.sol`, { content: fs.readFileSync(path.join(here, 'src', `${c}.sol`), 'utf8') }]),
  ),
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: { '*': { '*': ['abi', 'evm.deployedBytecode.object'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const check = process.argv.includes('--check');
let stale = false;
fs.mkdirSync(path.join(here, 'deployed'), { recursive: true });
for (const c of contracts) {
  const out = output.contracts[`src/${c}.sol`][c];
  const files = {
    [`${c}.hex`]: out.evm.deployedBytecode.object + '\n',
    [`${c}.abi.json`]: JSON.stringify(out.abi, null, 2) + '\n',
  };
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(here, 'deployed', name);
    if (check) {
      const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
      if (old !== text) {
        console.error(`contracts/deployed/${name} is stale: run \`npm run build\` in contracts/ and commit it`);
        stale = true;
      }
    } else {
      fs.writeFileSync(file, text);
    }
  }
}
console.log(`solc ${solc.version()}: ${check ? (stale ? 'stale' : 'up to date') : 'wrote deployed/'}`);
process.exit(stale ? 1 : 0);
