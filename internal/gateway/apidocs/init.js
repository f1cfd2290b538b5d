// Renders the gateway's OpenAPI document (/openapi.json, relative to /docs so the page also works
// behind a path prefix) with the embedded Redoc bundle. body[data-docs] becomes "rendered" or
// "failed" when Redoc is done, for checks.
(function () {
  var el = document.getElementById('redoc');
  Redoc.init('openapi.json', {
    expandResponses: '200,201,202',
    hideHostname: false,
    jsonSampleExpandLevel: 3,
    menuToggle: true,
    pathInMiddlePanel: true,
    requiredPropsFirst: true,
    sortPropsAlphabetically: false
  }, el, function (err) {
    document.body.setAttribute('data-docs', err ? 'failed' : 'rendered');
    if (err) {
      console.error('API reference:', err);
    }
  });
})();
