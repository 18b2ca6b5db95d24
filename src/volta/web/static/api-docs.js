/* Starts Swagger UI (/docs) or ReDoc (/redoc) on the page's <main>, from the
   local copies of their bundles: no inline script, no CDN (api_docs.py). */
(function () {
  "use strict";
  const root = document.getElementById("api-docs");
  if (!root) return;
  const url = root.dataset.openapi;
  if (root.dataset.kind === "swagger") {
    window.ui = SwaggerUIBundle({
      url: url,
      domNode: root,
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
      layout: "BaseLayout",
    });
  } else {
    Redoc.init(url, { hideDownloadButton: false }, root);
  }
})();
