// Offline verification of health codes in the browser: the checks of
// internal/code.Verify, statuslist.Seen and healthcode.Decide, in the same
// order and with the same reject codes and Chinese reasons. It reads the
// region's signed trust list and status list (compact JWS, EdDSA) and
// verifies Ed25519 signatures with WebCrypto. Hand-written; no library.
(function (global) {
  'use strict';

  var PREFIX = 'HQ1:';
  var MAX_LEN = 1024;
  var CLOCK_SKEW = 120; // seconds, code.ClockSkew
  var MAX_KID = 16;
  var B45 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';
  var TRUST_TYPE = 'healthcode-trust-list+jws';
  var STATUS_TYPE = 'healthcode-status-list+jws';

  function fail(code, detail) {
    var e = new Error(detail);
    e.rejectCode = code;
    return e;
  }
  function malformed(detail) { return fail('malformed', 'malformed code: ' + detail); }

  // --- base45 (RFC 9285), strict ---------------------------------------
  function base45(s, base) {
    var out = [];
    for (var i = 0; i < s.length; i += 3) {
      var n = Math.min(3, s.length - i);
      if (n === 1) throw malformed('the base45 text ends with a single character at character ' + (base + i) + ' (is it cut short?)');
      var v = 0, mul = 1;
      for (var j = 0; j < n; j++) {
        var d = B45.indexOf(s.charAt(i + j));
        if (d < 0) throw malformed(JSON.stringify(s.charAt(i + j)) + ' at character ' + (base + i + j) + ' is not a base45 character');
        v += d * mul;
        mul *= 45;
      }
      if (n === 3) {
        if (v > 0xffff) throw malformed('the base45 group at character ' + (base + i) + ' is out of range');
        out.push(v >> 8, v & 0xff);
      } else {
        if (v > 0xff) throw malformed('the final base45 group at character ' + (base + i) + ' is out of range');
        out.push(v);
      }
    }
    return new Uint8Array(out);
  }

  // --- CBOR, the strict subset codes use ---------------------------------
  var MAJOR = ['an unsigned integer', 'a negative integer', 'a byte string', 'a text string', 'an array', 'a map', 'a tag', 'a simple value or float'];

  function head(b, off, what) {
    if (off >= b.length) throw malformed('the data ends at byte ' + off + ', where ' + what + ' should start (is it cut short?)');
    var major = b[off] >> 5, ai = b[off] & 0x1f;
    off++;
    if (ai < 24) return { major: major, arg: ai, next: off };
    if (ai <= 27) {
      var n = 1 << (ai - 24);
      if (b.length - off < n) throw malformed('the data ends at byte ' + b.length + ', inside the head of ' + what + ' (is it cut short?)');
      var arg = 0;
      for (var i = 0; i < n; i++) arg = arg * 256 + b[off + i];
      if (major !== 7 && ((ai === 24 && arg < 24) || (ai > 24 && arg < Math.pow(2, 8 << (ai - 25))))) {
        throw malformed(what + ' at byte ' + (off - 1) + ' is not in the shortest form');
      }
      return { major: major, arg: arg, next: off + n };
    }
    if (ai === 31) throw malformed(what + ' at byte ' + (off - 1) + ' has an indefinite length');
    throw malformed('byte ' + (off - 1) + ' is not valid CBOR');
  }

  function str(b, off, major, what) {
    var h = head(b, off, what);
    if (h.major !== major) throw malformed(what + ' at byte ' + off + ' is ' + MAJOR[h.major] + ', not ' + MAJOR[major]);
    if (h.arg > b.length - h.next) throw malformed('the data ends at byte ' + b.length + ', inside ' + what + ' (is it cut short?)');
    return { start: h.next, end: h.next + h.arg };
  }

  // item decodes one data item at off: integers, strings, arrays and maps
  // (maps as lists of [key, value]); tags are refused, as in Go.
  function item(b, off, what, depth) {
    var start = off, h = head(b, off, what);
    switch (h.major) {
      case 0: return { v: h.arg, next: h.next };
      case 1: return { v: -1 - h.arg, next: h.next };
      case 2: case 3:
        if (h.arg > b.length - h.next) throw malformed('the data ends at byte ' + b.length + ', inside ' + what + ' (is it cut short?)');
        var raw = b.subarray(h.next, h.next + h.arg);
        if (h.major === 3) {
          try { raw = new TextDecoder('utf-8', { fatal: true }).decode(raw); } catch (e) { throw malformed(what + ' at byte ' + start + ' is not UTF-8'); }
        }
        return { v: raw, next: h.next + h.arg };
      case 4: case 5:
        if (depth >= 4) throw malformed(what + ' at byte ' + start + ' is nested too deeply');
        var n = h.major === 5 ? h.arg * 2 : h.arg, items = [], next = h.next;
        if (n > b.length - next) throw malformed('the data ends at byte ' + b.length + ', inside ' + what + ' (is it cut short?)');
        for (var i = 0; i < n; i++) {
          var it = item(b, next, what, depth + 1);
          items.push(it.v);
          next = it.next;
        }
        if (h.major === 4) return { v: items, next: next };
        var pairs = [];
        for (var k = 0; k < items.length; k += 2) pairs.push([items[k], items[k + 1]]);
        return { v: { map: pairs }, next: next };
      case 6: throw malformed(what + ' at byte ' + start + ' contains a CBOR tag, which codes do not use');
      default:
        if ((b[start] & 0x1f) === 24 && h.arg < 32) throw malformed('byte ' + start + ' is not valid CBOR');
        return { v: { simple: h.arg }, next: h.next };
    }
  }

  // intMap reads a CBOR map whose keys are the integers in fields, each of
  // the given kind; anything else is an error, as Go's decoder with
  // unknown-field and duplicate-key checks.
  function intMap(b, start, end, what, fields) {
    var it = item(b, start, what, 0);
    if (it.next !== end) throw malformed('unexpected bytes at byte ' + it.next + ' after ' + what);
    if (!it.v || !it.v.map) throw malformed(what + ' at byte ' + start + ' is not a map');
    var out = {};
    it.v.map.forEach(function (kv) {
      var k = kv[0], v = kv[1];
      if (typeof k !== 'number' || !(k in fields)) throw malformed('bad ' + what + ' at byte ' + start + ': unknown field ' + String(k));
      if (k in out) throw malformed('bad ' + what + ' at byte ' + start + ': duplicate key ' + k);
      var kind = fields[k], ok = false;
      if (kind === 'uint') ok = typeof v === 'number' && v >= 0;
      else if (kind === 'int') ok = typeof v === 'number';
      else if (kind === 'bytes') ok = v instanceof Uint8Array;
      else if (kind === 'text') ok = typeof v === 'string';
      if (!ok) throw malformed('bad ' + what + ' at byte ' + start + ': field ' + k + ' has the wrong type');
      out[k] = v;
    });
    return out;
  }

  // sign1 finds the parts of an untagged COSE_Sign1 (scanSign1 in Go).
  function sign1(b) {
    var h = head(b, 0, 'the COSE_Sign1 array');
    if (h.major === 6 && h.arg === 18) throw malformed('tagged COSE_Sign1 (tag 18); health codes carry an untagged COSE_Sign1');
    if (h.major !== 4 || h.arg !== 4) throw malformed('the data does not start with a COSE_Sign1 (a 4-element CBOR array)');
    var p = {};
    var prot = str(b, h.next, 2, 'the protected header');
    if (prot.start === prot.end) throw malformed('the protected header at byte ' + h.next + ' is empty; it must hold the algorithm and key id');
    p.protStart = prot.start; p.protEnd = prot.end;
    var u = head(b, prot.end, 'the unprotected header');
    if (u.major !== 5) throw malformed('the unprotected header at byte ' + prot.end + ' is ' + MAJOR[u.major] + ', not a map');
    if (u.arg !== 0) throw malformed('the unprotected header at byte ' + prot.end + ' is not empty; codes put nothing there');
    p.payloadHead = prot.end + 1;
    var pl = str(b, p.payloadHead, 2, 'the payload');
    p.payloadStart = pl.start; p.payloadEnd = pl.end;
    var sg = str(b, pl.end, 2, 'the signature');
    if (sg.end - sg.start !== 64) throw malformed('the signature at byte ' + pl.end + ' is ' + (sg.end - sg.start) + ' bytes; an Ed25519 signature is 64');
    if (sg.end !== b.length) throw malformed((b.length - sg.end) + ' unexpected bytes after the signature, at byte ' + sg.end);
    p.sigStart = sg.start; p.sigEnd = sg.end;
    return p;
  }

  // --- helpers -------------------------------------------------------------
  function hex(bytes) {
    var s = '';
    for (var i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
    return s;
  }
  function b64url(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function concat(parts) {
    var n = 0;
    parts.forEach(function (p) { n += p.length; });
    var out = new Uint8Array(n), off = 0;
    parts.forEach(function (p) { out.set(p, off); off += p.length; });
    return out;
  }
  function iso(sec) { return new Date(sec * 1000).toISOString().replace('.000Z', 'Z'); }
  function validAt(k, t) { return t >= k.notBefore && (k.notAfter === 0 || t <= k.notAfter); }
  function edVerify(pub, sig, msg) {
    return crypto.subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']).then(function (key) {
      return crypto.subtle.verify({ name: 'Ed25519' }, key, sig, msg);
    });
  }

  // --- JWS (trust list and status list) ---------------------------------------
  function jwsParts(text, typ, what) {
    var parts = String(text).trim().split('.');
    if (parts.length !== 3) throw new Error(what + ': not a compact JWS');
    var hdr = JSON.parse(new TextDecoder().decode(b64url(parts[0])));
    if (hdr.alg !== 'EdDSA') throw new Error(what + ': not signed with EdDSA');
    if (hdr.typ !== typ) throw new Error(what + ': the JWS type (typ) is ' + JSON.stringify(hdr.typ) + ', not ' + JSON.stringify(typ));
    if (!hdr.kid) throw new Error(what + ': the JWS header has no key id (kid)');
    return { kid: hdr.kid, input: new TextEncoder().encode(parts[0] + '.' + parts[1]), payload: b64url(parts[1]), sig: b64url(parts[2]) };
  }

  // parseTrustList checks a signed trust list at now (seconds) and returns
  // its keys: [{kid (hex), region, pub (Uint8Array), notBefore, notAfter}].
  function parseTrustList(text, now) {
    var j = jwsParts(text, TRUST_TYPE, 'trust list');
    var list = JSON.parse(new TextDecoder().decode(j.payload));
    var keys = (list.keys || []).filter(function (e) { return !e.revoked && e.alg === 'EdDSA'; }).map(function (e) {
      return { kid: e.kid, region: e.region, pub: b64url(e.public_key), notBefore: Date.parse(e.not_before) / 1000,
        notAfter: e.not_after ? Date.parse(e.not_after) / 1000 : 0 };
    });
    // Only keys whose kid matches the key (the first bytes of its SHA-256) count.
    return Promise.all(keys.map(function (k) {
      return crypto.subtle.digest('SHA-256', k.pub).then(function (d) { return hex(new Uint8Array(d).subarray(0, 2)) === k.kid && k.pub.length === 32 ? k : null; });
    })).then(function (checked) {
      keys = checked.filter(Boolean);
      var signers = keys.filter(function (k) { return k.kid === j.kid; });
      if (!signers.length) throw new Error('trust list: signed by key ' + j.kid + ', which is not in the list');
      return Promise.all(signers.map(function (k) { return edVerify(k.pub, j.sig, j.input).then(function (ok) { return ok ? k : null; }); }));
    }).then(function (ok) {
      var signer = ok.filter(Boolean)[0];
      if (!signer) throw new Error('trust list: the signature does not verify with key ' + j.kid);
      if (signer.region !== list.issuer) throw new Error('trust list: signed by a key of region ' + signer.region + ', not of the issuer ' + list.issuer);
      if (!validAt(signer, now)) throw new Error('trust list: signed by key ' + j.kid + ', which is not valid now');
      if (Date.parse(list.issued_at) / 1000 > now + CLOCK_SKEW) throw new Error('trust list: issued in the future');
      return { issuer: list.issuer, issuedAt: list.issued_at, keys: keys };
    });
  }

  function lookupKeys(trust, kidHex) {
    return trust ? trust.keys.filter(function (k) { return k.kid === kidHex; }) : [];
  }

  // parseStatusList checks a signed status list against the trust list.
  function parseStatusList(text, trust) {
    var j = jwsParts(text, STATUS_TYPE, 'status list');
    var cands = lookupKeys(trust, j.kid);
    if (!cands.length) return Promise.reject(new Error('status list: signed by key ' + j.kid + ', which no trusted region has'));
    return Promise.all(cands.map(function (k) { return edVerify(k.pub, j.sig, j.input).then(function (ok) { return ok ? k : null; }); }))
      .then(function (ok) {
        var signer = ok.filter(Boolean)[0];
        if (!signer) throw new Error('status list: the signature does not verify with trusted key ' + j.kid);
        var l = JSON.parse(new TextDecoder().decode(j.payload));
        var issuedAt = Date.parse(l.issued_at) / 1000;
        if (signer.region !== l.issuer) throw new Error('status list: signed by a key of region ' + signer.region + ', not of ' + l.issuer);
        if (!validAt(signer, issuedAt)) throw new Error('status list: issued with a key not valid then');
        var want = Math.floor((l.size + 3) / 4);
        var stream = new Blob([b64url(l.bits)]).stream().pipeThrough(new DecompressionStream('deflate'));
        return new Response(stream).arrayBuffer().then(function (buf) {
          var bits = new Uint8Array(buf);
          if (bits.length !== want) throw new Error('status list: the bits decompress to ' + bits.length + ' bytes; size ' + l.size + ' needs ' + want);
          return { issuer: l.issuer, issuedAt: issuedAt, maxAge: l.max_age_seconds, size: l.size, bits: bits };
        });
      });
  }

  // listLookup is statuslist.List.Lookup: a state or an error message.
  function listLookup(list, index, now) {
    if (now - list.issuedAt > list.maxAge) return { err: 'status list is older than its limit of ' + list.maxAge + ' seconds: check online' };
    if (list.issuedAt > now + CLOCK_SKEW) return { err: 'status list is issued in the future (is the clock right?): check online' };
    if (index < 0 || index >= list.size) return { err: 'status index ' + index + ' is beyond the status list, which has ' + list.size + ' entries (is the code newer than the list?): check online' };
    return { state: (list.bits[index >> 2] >> (6 - 2 * (index & 3))) & 3 };
  }

  // --- the code ---------------------------------------------------------------
  var CLAIMS = { 4: 'uint', 6: 'uint', '-1': 'bytes', '-2': 'uint', '-3': 'text', '-4': 'uint', '-5': 'uint', '-6': 'uint', '-7': 'uint' };
  var HEADER = { 1: 'int', 4: 'bytes' };
  var MAX_TIME = Math.pow(2, 40);

  function prefixError(s) {
    var h = s.slice(0, 8).toUpperCase();
    if (s === '') return 'not a health code: the text is empty';
    if (h.indexOf('HTTP://') === 0 || h.indexOf('HTTPS://') === 0) return 'not a health code: it is a web address (' + JSON.stringify(s.slice(0, 60)) + ')';
    if (h.indexOf('HC1:') === 0) return 'not a health code: it is an EU Digital COVID Certificate (HC1:), which this system does not accept';
    if (h.indexOf('SHC:/') === 0) return 'not a health code: it is a SMART Health Card (shc:/), which this system does not accept';
    if (/^HQ[0-9]:/.test(h)) return 'not a health code of a supported version: it starts with ' + s.slice(0, 4) + ', this system reads ' + PREFIX;
    return 'not a health code: it does not start with ' + PREFIX;
  }

  // claimsProblem is wireClaims.check.
  function claimsProblem(c) {
    if (c[6] >= MAX_TIME || c[4] >= MAX_TIME) return 'issue or expiry time is out of range';
    if (c[4] <= c[6]) return 'expires before it is issued';
    if (c[-1].length !== 5) return 'subject is ' + c[-1].length + ' bytes, not 5';
    if (new TextEncoder().encode(c[-3]).length > 200) return 'masked name is longer than 200 bytes';
    if (/[\u0000-\u001f\u007f-\u009f]/.test(c[-3])) return 'masked name contains control characters or invalid UTF-8';
    var year = new Date(c[6] * 1000).getUTCFullYear();
    if (c[-4] < 1900 || c[-4] > year) return 'birth year ' + c[-4] + ' is not between 1900 and ' + year;
    var kind = c[-5] || 0;
    if (kind === 0) {
      var s = c[-2];
      if (s > 7 || (s & 3) === 3) return 'state ' + s + ' is not a colour (0-2) plus 4 if vaccinated';
      if (-6 in c) return 'a phone code has a status index';
      if ((-7 in c) && c[-7] > 255) return 'negative test age ' + c[-7] + ' hours is more than 255';
    } else if (kind === 1) {
      if (-2 in c) return 'a paper code carries a colour';
      if (-7 in c) return 'a paper code carries a negative test (-7)';
      if (c[-6] >= Math.pow(2, 31)) return 'status index is out of range';
    } else {
      return 'kind ' + kind + ' is not 1 (paper) or absent (phone)';
    }
    return '';
  }

  function missing(c) {
    if (!c[6]) return 'iat (6)';
    if (!c[4]) return 'exp (4)';
    if (!(-1 in c)) return 'subject (-1)';
    if (!c[-3]) return 'masked name (-3)';
    if (!c[-4]) return 'birth year (-4)';
    if (!c[-5] && !(-2 in c)) return 'state (-2) of a phone code';
    if (c[-5] === 1 && !(-6 in c)) return 'status index (-6) of a paper code';
    return '';
  }

  var SUBJECT_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  function base32(bytes) {
    var out = '', bits = 0, value = 0;
    for (var i = 0; i < bytes.length; i++) {
      value = (value << 8) | bytes[i];
      bits += 8;
      while (bits >= 5) { out += SUBJECT_ALPHABET[(value >>> (bits - 5)) & 31]; bits -= 5; }
    }
    if (bits > 0) out += SUBJECT_ALPHABET[(value << (5 - bits)) & 31];
    return out;
  }

  // check is code.Check: a promise of the verdict for payload at now
  // (seconds), with the fields of code.Verdict.
  function check(payload, trust, now) {
    return Promise.resolve().then(function () {
      payload = String(payload).replace(/[\r\n]+$/, '');
      if (payload.indexOf(PREFIX) !== 0) throw fail('not_a_code', prefixError(payload));
      if (payload.length > MAX_LEN) throw malformed('it is ' + payload.length + ' characters long; a code has at most ' + MAX_LEN);
      var raw = base45(payload.slice(PREFIX.length), PREFIX.length);
      var p = sign1(raw);
      var hdr = intMap(raw, p.protStart, p.protEnd, 'protected header', HEADER);
      if (!(1 in hdr)) throw malformed('the protected header has no algorithm (label 1)');
      var kid = hdr[4];
      if (!kid || kid.length === 0 || kid.length > MAX_KID) throw malformed('the protected header has no key id (label 4) of 1 to ' + MAX_KID + ' bytes');
      var cands = lookupKeys(trust, hex(kid));
      if (!cands.length) throw fail('unknown_issuer', 'unknown issuer: no trusted region has signing key ' + hex(kid));
      if (hdr[1] !== -8) throw fail('bad_signature', 'bad signature: the code is signed with algorithm ' + hdr[1] + '; only EdDSA is accepted');
      // Sig_structure = ["Signature1", protected, h'', payload], re-using the
      // code's own (shortest-form) encodings of the two byte strings.
      var tbs = concat([new Uint8Array([0x84, 0x6a]), new TextEncoder().encode('Signature1'), raw.subarray(1, p.protEnd),
        new Uint8Array([0x40]), raw.subarray(p.payloadHead, p.payloadEnd)]);
      var sig = raw.subarray(p.sigStart, p.sigEnd);
      return Promise.all(cands.map(function (k) { return edVerify(k.pub, sig, tbs).then(function (ok) { return ok ? k : null; }); }))
        .then(function (ok) {
          var key = ok.filter(Boolean)[0];
          if (!key) throw fail('bad_signature', 'bad signature: the code was altered, or was not signed by the trusted key ' + hex(kid));
          var c = intMap(raw, p.payloadStart, p.payloadEnd, 'claims', CLAIMS);
          var m = missing(c);
          if (m) throw malformed('missing claim ' + m);
          if (c[6] >= MAX_TIME || c[4] >= MAX_TIME) throw malformed('issue or expiry time is out of range');
          if (!validAt(key, c[6])) throw fail('key_not_valid', 'issued at ' + iso(c[6]) + ' with key ' + hex(kid) + ' of region ' + key.region + ', which is not valid then');
          if (c[6] > now + CLOCK_SKEW) throw fail('not_yet_valid', 'not valid until ' + iso(c[6]));
          if (now >= c[4]) throw fail('expired', 'expired at ' + iso(c[4]));
          var problem = claimsProblem(c);
          if (problem) throw malformed(problem);
          var v = { valid: true, issuer: key.region, subject: base32(c[-1]), subject_display: c[-3], birth_year: c[-4],
            issued_at: iso(c[6]), expires_at: iso(c[4]), vaccinated: false, reason: 'valid code issued by region ' + key.region };
          if (c[-5] === 1) {
            v.kind = 'paper';
            v.status_index = c[-6];
          } else {
            v.kind = 'phone';
            v.color = ['green', 'yellow', 'red'][c[-2] & 3];
            v.vaccinated = (c[-2] & 4) !== 0;
            if (-7 in c) v.negative_test_at = iso(c[6] - c[-7] * 3600);
          }
          return v;
        });
    }).catch(function (e) {
      if (!e.rejectCode) throw e;
      return { valid: false, reject_code: e.rejectCode, reason: e.message };
    });
  }

  // seen is statuslist.Seen: what the venue policy decides on.
  function seen(v, list, now) {
    if (!v.valid) return { s: { valid: false, reject: v.reason, rejectCode: v.reject_code }, v: v };
    if (v.kind === 'phone') {
      return { s: { valid: true, color: v.color, vaccinated: v.vaccinated, negativeTestAt: v.negative_test_at ? Date.parse(v.negative_test_at) / 1000 : 0 }, v: v };
    }
    v.color = ''; v.vaccinated = false; delete v.negative_test_at;
    function unknown(why) { v.reason = 'colour unknown: ' + why; return { s: { valid: true, color: '' }, v: v }; }
    if (!list) return unknown("no status list is loaded to give a paper code's colour: check online");
    if (list.issuer !== v.issuer) return unknown("the status list is region " + list.issuer + "'s, but the code was issued by region " + v.issuer + ': check online');
    var r = listLookup(list, v.status_index, now);
    if (r.err) return unknown(r.err);
    if (r.state <= 2) {
      v.color = ['green', 'yellow', 'red'][r.state];
      v.reason += '; ' + v.color + ' in the status list';
      return { s: { valid: true, color: v.color }, v: v };
    }
    v.valid = false; v.reject_code = 'revoked'; v.reason = 'revoked: this paper code was replaced by a newer one';
    return { s: { valid: false, reject: v.reason, rejectCode: 'revoked' }, v: v };
  }

  var REJECT_ZH = { expired: '已过期，请刷新', not_yet_valid: '尚未生效（请检查设备时间）', bad_signature: '签名无效，可能被篡改',
    unknown_issuer: '签发地区不受信任', key_not_valid: '签发密钥已失效', not_a_code: '不是健康码', revoked: '已作废（已补发新码）' };
  var COLOR_ZH = { green: '绿码', yellow: '黄码', red: '红码' };

  // decide is healthcode.Decide, word for word.
  function decide(policy, s, now) {
    function deny(en, zh) { return { decision: 'deny', reason: en, reason_zh: zh }; }
    if (!s.valid) return deny('code rejected: ' + s.reject, '健康码无效：' + (REJECT_ZH[s.rejectCode] || '格式错误'));
    if (!s.color) return deny('colour unknown: check online', '状态未知：请联网核验');
    if (s.color !== 'green') return deny('code is ' + s.color + ': only green is admitted', '健康码为' + (COLOR_ZH[s.color] || s.color) + '：仅绿码可进入');
    if (policy.kind === 'green_and_vaccinated') {
      if (!s.vaccinated) return deny('policy: needs the vaccinated mark', '本场所要求完成疫苗接种');
      return { decision: 'admit', reason: 'green and vaccinated', reason_zh: '绿码且已完成接种' };
    }
    if (policy.kind === 'green_and_test_within_hours') {
      var h = policy.hours;
      if (!s.negativeTestAt || now - s.negativeTestAt > h * 3600) {
        return deny('policy: needs a negative nucleic-acid test sampled within ' + h + ' h', '本场所要求' + h + '小时内核酸检测阴性');
      }
      return { decision: 'admit', reason: 'green with a negative test within ' + h + ' h', reason_zh: '绿码且' + h + '小时内核酸阴性' };
    }
    return { decision: 'admit', reason: 'green', reason_zh: '绿码' };
  }

  // checkpoint verifies, looks the colour up and decides, as the
  // `healthcode checkpoint` command does for one code.
  function checkpoint(payload, trust, list, policy, now) {
    return check(payload, trust, now).then(function (v) {
      var r = seen(v, list, now);
      var adm = decide(policy, r.s, now);
      return { verdict: r.v, admission: adm, seen: r.s };
    });
  }

  global.hcVerify = { check: check, seen: seen, decide: decide, checkpoint: checkpoint, parseTrustList: parseTrustList, parseStatusList: parseStatusList };
})(window);
