// Reads QR codes from the camera: the browser's BarcodeDetector where it
// has one, else the vendored jsQR on frames drawn to a canvas.
(function (global) {
  'use strict';
  global.hcCamera = function (video, canvas, onText, onError) {
    var stopped = false, stream = null, detector = null;
    if ('BarcodeDetector' in global) {
      try { detector = new global.BarcodeDetector({ formats: ['qr_code'] }); } catch (e) { detector = null; }
    }
    function frame() {
      if (stopped) return;
      if (video.readyState < 2 || !video.videoWidth) { setTimeout(frame, 100); return; }
      var found = detector ? detector.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : null; }).catch(function () { detector = null; return null; })
        : Promise.resolve(readFrame());
      found.then(function (text) {
        if (text) onText(text);
        setTimeout(frame, 150);
      });
    }
    function readFrame() {
      var scale = Math.min(1, 640 / video.videoWidth);
      var w = Math.round(video.videoWidth * scale), h = Math.round(video.videoHeight * scale);
      canvas.width = w; canvas.height = h;
      var ctx = canvas.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(video, 0, 0, w, h);
      var img = ctx.getImageData(0, 0, w, h);
      var code = global.jsQR(img.data, w, h, { inversionAttempts: 'dontInvert' });
      return code ? code.data : null;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      onError(new Error('no camera API'));
      return { stop: function () {} };
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false }).then(function (s) {
      stream = s;
      video.srcObject = s;
      video.setAttribute('data-on', '');
      return video.play();
    }).then(frame).catch(onError);
    return {
      stop: function () {
        stopped = true;
        if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
      }
    };
  };
})(window);
