// The certificates page's import form: the camera reads a foreign EU DCC
// ("HC1:...") and puts its text in the form, which the resident submits.
(function () {
  'use strict';
  var status = document.getElementById('scanstatus');
  var video = document.getElementById('video'), canvas = document.getElementById('canvas');
  var payload = document.getElementById('payload');
  var cam = null;
  function stop() { if (cam) { cam.stop(); cam = null; } video.removeAttribute('data-on'); }
  document.getElementById('scanstart').addEventListener('click', function () {
    stop();
    status.textContent = status.dataset.tStarting;
    cam = window.hcCamera(video, canvas, function (text) {
      text = text.trim();
      if (text.slice(0, 4).toUpperCase() !== 'HC1:') { status.textContent = status.dataset.tNotcert; return; }
      payload.value = text;
      stop();
      status.textContent = status.dataset.tRead;
      payload.focus();
    }, function () { status.textContent = status.dataset.tNocamera; });
  });
})();
