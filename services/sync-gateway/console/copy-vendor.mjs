// Copies exactly the third-party files the console loads from node_modules (after `npm ci`) into site/vendor/,
// which the sync gateway serves at /console/vendor/. No bundler: these are the packages' own prebuilt global builds,
// and our pages (site/js/) are plain ES modules loaded as they are. Run by `make install` and by the Dockerfile.
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "site", "vendor");
const require = createRequire(import.meta.url);

// [package, file inside the package, name under vendor/]
const FILES = [
  ["vue", "dist/vue.global.prod.js", "vue.global.prod.js"], // with the template compiler: pages use template strings
  ["element-plus", "dist/index.full.min.js", "element-plus.full.min.js"],
  ["element-plus", "dist/index.css", "element-plus.css"],
  ["element-plus", "dist/locale/zh-cn.min.js", "element-plus.zh-cn.min.js"],
  ["echarts", "dist/echarts.min.js", "echarts.min.js"],
];

rmSync(vendor, { recursive: true, force: true });
mkdirSync(vendor, { recursive: true });
const versions = {};
for (const [pkg, file, name] of FILES) {
  const root = dirname(require.resolve(`${pkg}/package.json`));
  copyFileSync(join(root, file), join(vendor, name));
  versions[pkg] = require(`${pkg}/package.json`).version;
}
// The licences travel with the files (Vue, Element Plus: MIT; ECharts: Apache-2.0).
for (const pkg of Object.keys(versions)) {
  const root = dirname(require.resolve(`${pkg}/package.json`));
  copyFileSync(join(root, "LICENSE"), join(vendor, `${pkg}.LICENSE.txt`));
}
writeFileSync(join(vendor, "versions.json"), JSON.stringify(versions, null, 2) + "\n");
console.log(`console vendor files copied to ${vendor}:`, versions);
