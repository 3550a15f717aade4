// The checkpoint station: signs in with the device's token (kept by the
// server in an HttpOnly cookie), picks the venue, reads codes from the
// camera or a typed/scanner line, decides offline (verify.js) and queues
// each check-in in IndexedDB until POST /api/v1/checkins has it. Re-sent
// check-ins keep their id, so the server stores each once.
(function () {
  'use strict';
  var root = document.getElementById('cp');
  function T(k) { return root.dataset['t' + k.charAt(0).toUpperCase() + k.slice(1).replace(/_(.)/g, function (m, c) { return c.toUpperCase(); })] || k; }
  var $ = function (id) { return document.getElementById(id); };
  var zh = root.dataset.lang === 'zh-CN';
  var st = { info: null, trust: null, status: null, venue: null, online: false, lastText: '', lastAt: 0 };
  var log = { stored: 0, duplicates: 0, rejected: 0, uploads: 0 };

  // --- IndexedDB: "kv" for cached documents, "queue" for check-ins ---------
  var dbp = new Promise(function (resolve, reject) {
    var req = indexedDB.open('healthcode-checkpoint', 1);
    req.onupgradeneeded = function () {
      req.result.createObjectStore('kv');
      req.result.createObjectStore('queue', { keyPath: 'id' });
    };
    req.onsuccess = function () { resolve(req.result); };
    req.onerror = function () { reject(req.error); };
  });
  function tx(store, mode, fn) {
    return dbp.then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(store, mode), out;
        var r = fn(t.objectStore(store));
        if (r) r.onsuccess = function () { out = r.result; };
        t.oncomplete = function () { resolve(out); };
        t.onerror = t.onabort = function () { reject(t.error); };
      });
    });
  }
  var kvGet = function (k) { return tx('kv', 'readonly', function (s) { return s.get(k); }); };
  var kvPut = function (k, v) { return tx('kv', 'readwrite', function (s) { return s.put(v, k); }); };
  var queueAll = function () { return tx('queue', 'readonly', function (s) { return s.getAll(); }); };
  var queueCount = function () { return tx('queue', 'readonly', function (s) { return s.count(); }); };

  function now() { return Date.now() / 1000; }

  function get(path, asText) {
    return fetch(path, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      if (r.status === 401 || r.status === 403) { var e = new Error('signed out'); e.auth = true; throw e; }
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
      return asText ? r.text() : r.json();
    });
  }

  function setOnline(on) {
    st.online = on;
    var net = $('net');
    net.textContent = on ? T('online') : T('offline');
    net.className = 'net ' + (on ? 'on' : 'off');
  }

  function showQueue() {
    return queueCount().then(function (n) { $('queue').textContent = T('queued').replace('%d', n); return n; });
  }

  function showLists() {
    var el = $('lists');
    if (!st.trust) { el.textContent = T('nolist'); return; }
    var s = st.status ? new Date(st.status.issuedAt * 1000).toLocaleTimeString(root.dataset.lang, { hour12: false }) : '—';
    el.textContent = T('lists').replace('%s', s);
  }

  // refresh fetches the device's venues and the two signed lists, falling
  // back to the copies in IndexedDB.
  function refresh() {
    var info = get('/api/v1/checkpoint').then(function (j) { setOnline(true); return kvPut('info', j).then(function () { return j; }); })
      .catch(function (e) { if (e.auth) throw e; setOnline(false); return kvGet('info'); });
    return info.then(function (j) {
      st.info = j;
      if (!j) { var e = new Error('not signed in'); e.auth = true; throw e; }
      return get('/.well-known/healthcode/trust-list', true).then(function (t) { return kvPut('trust', t).then(function () { return t; }); })
        .catch(function () { return kvGet('trust'); });
    }).then(function (text) {
      return text ? window.hcVerify.parseTrustList(text, now()) : null;
    }).then(function (trust) {
      st.trust = trust;
      return get('/.well-known/healthcode/status-list', true).then(function (t) { return kvPut('status', t).then(function () { return t; }); })
        .catch(function () { return kvGet('status'); });
    }).then(function (text) {
      return text && st.trust ? window.hcVerify.parseStatusList(text, st.trust).catch(function () { return null; }) : null;
    }).then(function (list) {
      if (list) st.status = list;
      showLists();
      return kvGet('venue');
    }).then(function (chosen) {
      var sel = $('venue'), venues = st.info.venues || [];
      sel.textContent = '';
      venues.forEach(function (v) {
        var o = document.createElement('option');
        o.value = v.id;
        o.textContent = v.name;
        sel.appendChild(o);
      });
      var pick = venues.filter(function (v) { return v.id === chosen; })[0] || venues[0];
      if (pick) { sel.value = pick.id; st.venue = pick; }
      showPolicy();
    });
  }

  function showPolicy() {
    var p = st.venue ? st.venue.policy : null;
    $('policy').textContent = p ? T('policy_' + p.kind) + (p.hours ? ' (' + p.hours + ' h)' : '') : '';
  }

  function randomID() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x < 16 ? '0' : '') + x.toString(16); }).join('');
  }

  // check decides on one code, shows the decision and queues the check-in.
  function check(text) {
    if (!st.venue || !st.trust) return Promise.reject(new Error('not ready'));
    var at = new Date();
    return window.hcVerify.checkpoint(text, st.trust, st.status, st.venue.policy, at.getTime() / 1000).then(function (r) {
      show(r);
      if (!r.verdict.subject) return r;
      var item = { id: randomID(), subject: r.verdict.subject, issuer: r.verdict.issuer, venue_id: st.venue.id, at: at.toISOString(),
        decision: r.admission.decision, color: r.seen.color || '', mode: 'checkpoint' };
      r.checkin_id = item.id;
      r.checkin_at = item.at;
      return tx('queue', 'readwrite', function (s) { return s.put(item); }).then(showQueue).then(function () { upload(); return r; });
    });
  }

  function show(r) {
    var a = r.admission, v = r.verdict, box = $('result');
    box.className = 'result ' + a.decision;
    $('verdict').textContent = a.decision === 'admit' ? T('admit') : T('deny');
    $('reason').textContent = zh ? a.reason_zh : a.reason;
    var who = '';
    if (v.subject_display) {
      who = v.subject_display + ' · ' + T('born').replace('%d', v.birth_year) + ' · ' + (v.kind === 'paper' ? T('paper') : T('phone')) + ' · ' + v.issuer;
    }
    $('who').textContent = who;
  }

  var uploading = null;
  // upload sends the queue in batches and removes what the server answered
  // for (stored, duplicate or rejected); a failed call leaves it queued.
  function upload() {
    if (uploading) return uploading;
    uploading = queueAll().then(function (items) {
      if (!items.length) return 0;
      var batch = items.slice(0, 1000);
      return fetch('/api/v1/checkins', { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ checkins: batch }) }).then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      }).then(function (j) {
        setOnline(true);
        log.uploads++;
        log.stored += j.stored; log.duplicates += j.duplicates; log.rejected += j.rejected;
        return tx('queue', 'readwrite', function (s) { j.results.forEach(function (res) { s.delete(res.id); }); });
      });
    }).catch(function () { setOnline(false); }).then(function () { uploading = null; return showQueue(); });
    return uploading;
  }

  function startCamera() {
    window.hcCamera($('video'), $('canvas'), function (text) {
      // A code held in view is one person: it counts again only after
      // another code, or half a minute.
      var t = Date.now();
      if (text === st.lastText && t - st.lastAt < 30000) return;
      st.lastText = text; st.lastAt = t;
      check(text);
    }, function () { $('reason').textContent = T('nocamera'); });
  }

  $('venue').addEventListener('change', function () {
    var id = Number($('venue').value);
    st.venue = (st.info.venues || []).filter(function (v) { return v.id === id; })[0] || null;
    kvPut('venue', id);
    showPolicy();
  });
  $('manual').addEventListener('submit', function (e) {
    e.preventDefault();
    var text = $('codetext').value.trim();
    $('codetext').value = '';
    if (text) check(text);
  });
  $('scanstart').addEventListener('click', startCamera);
  window.addEventListener('online', upload);

  if (!window.crypto || !crypto.subtle || !window.DecompressionStream) {
    $('station').classList.remove('hidden');
    $('reason').textContent = T('unsupported');
    return;
  }
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js', { scope: '/checkpoint' }).catch(function () {});

  var ready = refresh().then(function () {
    $('station').classList.remove('hidden');
    setInterval(upload, 5000);
    setInterval(function () { refresh().catch(function () {}); }, 60000);
    return Promise.all([showQueue(), upload()]);
  }).catch(function (e) {
    if (e.auth) { $('signin').classList.remove('hidden'); return; }
    throw e;
  });

  // decide verifies and applies a policy without recording anything.
  function decide(text, policy) {
    return window.hcVerify.checkpoint(text, st.trust, st.status, policy, Date.now() / 1000);
  }

  window.hcCheckpoint = { ready: ready, check: check, decide: decide, upload: upload, queueSize: queueCount, log: log,
    state: function () { return { online: st.online, venue: st.venue && st.venue.id, trust: !!st.trust, status: !!st.status }; } };
})();
