// The package is "type": "module", so Node would read dist/cjs/*.js as ESM. A nested
// package.json marks that directory as CommonJS (the usual dual-package layout).
import { writeFileSync } from "node:fs";
writeFileSync(new URL("../dist/cjs/package.json", import.meta.url), '{"type": "commonjs"}\n');
