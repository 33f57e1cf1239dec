// What the YAML language server, as editors run it, says of one file: one JSON line per
// diagnostic. The schema comes from the file's own `# yaml-language-server: $schema=` modeline,
// resolved relative to the file as the server's README describes.
// Usage: node check.js FILE
const fs = require('fs');
const path = require('path');
const { getLanguageService } = require('yaml-language-server/lib/umd/languageservice/yamlLanguageService');
const { TextDocument } = require('vscode-languageserver-textdocument');
const { URI } = require('vscode-uri');

async function main() {
  const file = path.resolve(process.argv[2]);
  const service = getLanguageService({
    schemaRequestService: async (uri) => fs.readFileSync(URI.parse(uri).fsPath, 'utf8'),
    workspaceContext: {
      resolveRelativePath: (relative, resource) =>
        URI.file(path.resolve(path.dirname(URI.parse(resource).fsPath), relative)).toString(),
    },
  });
  service.configure({ validate: true, yamlVersion: '1.2' });
  const text = fs.readFileSync(file, 'utf8');
  const document = TextDocument.create(URI.file(file).toString(), 'yaml', 1, text);
  for (const found of await service.doValidation(document, false)) {
    const line = found.range.start.line + 1;
    console.log(JSON.stringify({ line, severity: found.severity, message: found.message, source: found.source }));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
