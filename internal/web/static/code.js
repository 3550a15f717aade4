// The code screen: draws the signed code as a QR in a frame of the status
// colour, runs a clock and a countdown, and fetches a fresh code (a few
// hundred bytes of JSON) before this one expires.
(function () {
  'use strict';
  var el = document.getElementById('code');
  if (!el) return;
  var qrBox = document.getElementById('qr'), clock = document.getElementById('clock'), cd = document.getElementById('countdown');
  var word = document.getElementById('colorword'), gold = document.getElementById('gold');
  var FRAME = { green: '#1a7f37', yellow: '#d4a000', red: '#c62828' };
  var d = el.dataset, lang = document.documentElement.lang;
  var code = { payload: d.payload, expires: Date.parse(d.expires), color: d.color, vaccinated: d.vaccinated === 'true' };
  var lifetime = Number(d.lifetime) || 300, nextTry = 0, busy = false, offline = false;

  function draw() {
    var q = qrcode(0, 'M');
    q.addData(code.payload, 'Alphanumeric');
    q.make();
    var n = q.getModuleCount(), b = 7, t = n + 2 * b, path = '';
    for (var y = 0; y < n; y++) {
      for (var x = 0; x < n;) {
        if (!q.isDark(y, x)) { x++; continue; }
        var run = 1;
        while (x + run < n && q.isDark(y, x + run)) run++;
        path += 'M' + (x + b) + ' ' + (y + b) + 'h' + run + 'v1h-' + run + 'z';
        x += run;
      }
    }
    qrBox.innerHTML = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ' + t + ' ' + t + '" shape-rendering="crispEdges">' +
      '<rect width="' + t + '" height="' + t + '" fill="' + (FRAME[code.color] || '#000') + '"/>' +
      '<rect x="3" y="3" width="' + (t - 6) + '" height="' + (t - 6) + '" fill="#fff"/><path fill="#000" d="' + path + '"/></svg>';
    el.className = 'codecard c-' + code.color;
    word.textContent = d['t' + code.color.charAt(0).toUpperCase() + code.color.slice(1)] || code.color;
    gold.classList.toggle('hidden', !code.vaccinated);
  }

  function two(n) { return (n < 10 ? '0' : '') + n; }

  function tick() {
    var now = Date.now(), left = Math.floor((code.expires - now) / 1000);
    var opts = { hour12: false };
    if (d.tz) opts.timeZone = d.tz;
    try { clock.textContent = new Date(now).toLocaleString(lang, opts); } catch (e) { clock.textContent = new Date(now).toLocaleString(lang, { hour12: false }); }
    clock.setAttribute('datetime', new Date(now).toISOString());
    if (left > 0) {
      cd.textContent = (offline ? cd.dataset.tOffline + ' · ' : '') + cd.dataset.tLeft.replace('%s', Math.floor(left / 60) + ':' + two(left % 60));
      el.classList.remove('expired');
    } else {
      cd.textContent = cd.dataset.tExpired;
      el.classList.add('expired');
    }
    // The server hands out a new code once the old one has less than a
    // fifth of its life left.
    if (left <= Math.max(5, lifetime / 5) && !busy && now >= nextTry) refresh();
  }

  function refresh() {
    busy = true;
    return fetch(d.api, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      if (r.status === 401) { location.reload(); throw new Error('signed out'); }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    }).then(function (j) {
      offline = false;
      var changed = j.payload !== code.payload;
      code = { payload: j.payload, expires: Date.parse(j.expires_at), color: j.color, vaccinated: j.vaccinated };
      if (changed) draw();
      nextTry = Date.now() + (changed ? 0 : 5000);
    }).catch(function () {
      offline = true;
      nextTry = Date.now() + 10000;
    }).then(function () { busy = false; tick(); });
  }

  document.addEventListener('visibilitychange', function () { if (!document.hidden) tick(); });
  draw();
  tick();
  setInterval(tick, 1000);
  window.hcCode = { refresh: refresh, state: function () { return code; } };
})();
