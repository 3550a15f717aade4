// The resident's place-code scanner: a place code is a URL of this site
// (/P/...); scanning one opens it, where the resident checks in.
(function () {
  'use strict';
  var status = document.getElementById('scanstatus');
  var video = document.getElementById('video'), canvas = document.getElementById('canvas');
  var cam = null, done = false;
  function start() {
    if (cam) cam.stop();
    cam = window.hcCamera(video, canvas, function (text) {
      if (done) return;
      var url;
      try { url = new URL(text.trim()); } catch (e) { url = null; }
      if (url && url.origin === location.origin && /^\/p\//i.test(url.pathname)) {
        done = true;
        status.textContent = status.dataset.tOpening;
        cam.stop();
        location.href = url.pathname;
      } else {
        status.textContent = status.dataset.tNotplace;
      }
    }, function () { status.textContent = status.dataset.tNocamera; });
  }
  document.getElementById('scanstart').addEventListener('click', start);
  start();
})();
