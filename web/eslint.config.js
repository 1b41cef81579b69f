// eslint for the web client: web/src runs in browsers, build.mjs and test/ in Node.
// On top of the recommended rules, a few that catch real mistakes without churn.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    rules: {
      eqeqeq: ["error", "always", { null: "ignore" }], // `x == null` stays the idiom for null or undefined
      "no-shadow": "error",
      "no-var": "error",
      "prefer-const": "error",
    },
  },
  {
    files: ["src/**/*.js"],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ["build.mjs", "eslint.config.js", "test/**/*.js"],
    languageOptions: { globals: globals.node },
  },
];
