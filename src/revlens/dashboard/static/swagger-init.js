// Starts Swagger UI on /docs from the local bundle (an external file, so the page's
// Content-Security-Policy can forbid inline scripts).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: document.body.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    validatorUrl: null, // the default asks validator.swagger.io: nothing may leave this server
  });
});
