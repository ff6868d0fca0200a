// The seed's QR codes link to the landing page with the claim in the fragment
// (https://<portal>/#/?claim=<code>&product=<id>): browsers never send a fragment to the server,
// so this script turns it into the claim page's query (/claim/?claim=…&product=…).
// Without JavaScript the page shows a link to /claim/ where the code can be typed.
(function () {
  "use strict";
  var hash = window.location.hash || "";
  var mark = hash.indexOf("?");
  if (mark < 0) {
    return;
  }
  var params = new URLSearchParams(hash.slice(mark + 1));
  var code = params.get("claim");
  if (!code) {
    return;
  }
  var query = "claim=" + encodeURIComponent(code);
  var product = params.get("product");
  if (product) {
    query += "&product=" + encodeURIComponent(product);
  }
  window.location.replace("/claim/?" + query);
})();
