// Writes hf_cases.json: Hugging Face tokenizers' own encodings of mixed,
// adversarial strings, for TestHFCases. Run from this folder with the
// tokenizers npm package (Hugging Face's Rust tokenizers for node):
//
//	npm install tokenizers@0.23.2 && node gen_hf_cases.js
//
// Tokenizers named "shared:..." are read from ../../../shared.
const { Tokenizer } = require('tokenizers');
const fs = require('fs');

let seed = 20261123;
function rnd() { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; }
function pick(a) { return a[Math.floor(rnd() * a.length)]; }

const atoms = [
  'a', 'Z', 'hello', ' world', "'s", "'T", "'Re", "'ll", "'LL", "'d", "'ve", 'ſ', "'", '"',
  ' ', '  ', '   ', '\t', '\n', '\r\n', '\r', '\n\n', ' \n', '\u00a0', '\u2003', '\u3000', '\u200b',
  '\u0085', '\u2028', '\u000b', '\u000c', '\u001c',
  '0', '7', '12', '123', '1234', '١٢٣', '²', '½', 'Ⅻ',
  '.', ',', '!', '?', '...', '(', ')', '<', '>', '{', '}', '=>', '//', '#', '$', '_', '-', '@',
  '日本', '語', '中文字符', '한국어', 'ไทย', 'العربية', 'Ελληνικά', 'Привет', 'K', 'Å', '\ufa49',
  'e\u0301', 'é', '\u0301', 'ﬁ', 'ｱ', 'Ａ', '\u{1004e}\u0323',
  '🦙', '🚀', '👍🏽', '👨‍👩‍👧', '✅', '\ufffd',
  '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<think>', '</think>', '<tool_call>',
  '<|begin_of_text|>', '<|eot_id|>', '<|start_header_id|>', '<|im_start', '|>', '<|',
  '<|s|>', '<L>', '<R>', '<LR>', 'cat', 'scat', ' cat ', 'ñó', 'n\u0303o\u0301', '<|s|>x',
];

const tokenizers = {
  'shared:testdata/tokenizers/qwen3': 120,
  'shared:testdata/tokenizers/llama3': 120,
  'local:flags': 80,
  'local:spm': 80, // stories260K's vocabulary (MIT) as a Llama 2 style tokenizer.json
};

(async () => {
  const out = {};
  for (const [name, n] of Object.entries(tokenizers)) {
    const [where, rel] = name.split(':');
    const path = (where === 'shared' ? '../../../shared/' : './') + rel + '/tokenizer.json';
    const t = Tokenizer.fromFile(path);
    out[name] = [];
    for (let i = 0; i < n; i++) {
      let text = '';
      for (let k = 1 + Math.floor(rnd() * 8); k > 0; k--) text += pick(atoms);
      const ids = Array.from((await t.encode(text, null, { addSpecialTokens: false })).getIds());
      const withSpecial = Array.from((await t.encode(text, null, { addSpecialTokens: true })).getIds());
      out[name].push({
        text, ids, with_special: withSpecial,
        decoded: await t.decode(ids, false), skipped: await t.decode(withSpecial, true),
      });
    }
  }
  fs.writeFileSync('hf_cases.json', JSON.stringify(out, null, 0).replace(/\},\{/g, '},\n{') + '\n');
})();
