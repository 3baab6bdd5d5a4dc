// The zod anchor of zpipe-bench: read ndjson line by line, validate each
// record against the zod equivalent of #User, write the valid records as
// ndjson, and print {"ok":N,"failed":M} on stdout.
//
//	node bench.mjs users.ndjson out.ndjson
import { createReadStream, openSync, writeSync, closeSync } from "node:fs";
import { createInterface } from "node:readline";
import * as z from "zod";

// CUE's \s is RE2's [\t\n\f\r ]; JavaScript's \s is wider, so spell it out.
const email = /^[^@\t\n\f\r ]+@[^@\t\n\f\r ]+\.[a-zA-Z]{2,}$/;

// CUE definitions are closed, hence strictObject; !="" is min(1).
const User = z.strictObject({
  id: z.int().min(1),
  name: z.string().min(1),
  email: z.string().regex(email),
  age: z.int().min(0).max(150),
  tags: z.array(z.string()),
  address: z.strictObject({
    city: z.string().min(1),
    zip: z.string().regex(/^[0-9]{5}$/),
  }),
});

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error("usage: node bench.mjs IN.ndjson OUT.ndjson");
  process.exit(2);
}

const fd = openSync(output, "w");
let buf = [];
let size = 0;
function flush() {
  if (buf.length) writeSync(fd, buf.join(""));
  buf = [];
  size = 0;
}

let ok = 0;
let failed = 0;
const lines = createInterface({ input: createReadStream(input), crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim() === "") continue;
  let rec;
  try {
    rec = JSON.parse(line);
  } catch {
    failed++;
    continue;
  }
  const r = User.safeParse(rec);
  if (!r.success) {
    failed++;
    continue;
  }
  ok++;
  const s = JSON.stringify(r.data) + "\n";
  buf.push(s);
  size += s.length;
  if (size >= 1 << 16) flush();
}
flush();
closeSync(fd);
console.log(JSON.stringify({ ok, failed }));
