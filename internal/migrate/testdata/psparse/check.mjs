// Reports PowerShell syntax errors in the files given, using the tree-sitter
// PowerShell grammar (no PowerShell runtime needed). Exit 1 on any error.
import { Parser, Language } from 'web-tree-sitter';
import fs from 'fs';
import { fileURLToPath } from 'url';

await Parser.init();
const wasm = fileURLToPath(new URL('./node_modules/tree-sitter-powershell/tree-sitter-powershell.wasm', import.meta.url));
const parser = new Parser();
parser.setLanguage(await Language.load(wasm));
let bad = 0;
for (const f of process.argv.slice(2)) {
  const tree = parser.parse(fs.readFileSync(f, 'utf8'));
  const walk = (n) => {
    if (n.isError || n.isMissing) {
      bad++;
      console.log(`${f}:${n.startPosition.row + 1}:${n.startPosition.column + 1}: ${n.isMissing ? 'missing ' + n.type : 'syntax error'} near ${JSON.stringify(n.text.slice(0, 60))}`);
    }
    for (const c of n.children) walk(c);
  };
  walk(tree.rootNode);
  console.log(`${f}: ${tree.rootNode.hasError ? 'syntax errors' : 'ok'} (${tree.rootNode.descendantCount} nodes)`);
}
process.exit(bad ? 1 : 0);
