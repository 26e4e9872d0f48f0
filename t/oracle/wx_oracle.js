#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
'use strict';
/*
 * wx_oracle.js - independent WeChat / WeCom callback crypto oracle for the Perl tests.
 *
 * All crypto comes from two third-party npm packages, pinned in package.json:
 *   lib "wecom"  -> @wecom/crypto 1.0.1  (Tencent's WeCom library: getSignature, encrypt, decrypt)
 *   lib "wechat" -> wechat-crypto 0.0.2  (node-webot's WXBizMsgCrypt port)
 * This file does no crypto of its own: it only parses JSON, converts strings/buffers and
 * calls the libraries' public API.
 *
 * Usage:  node wx_oracle.js < ops.json > results.json
 *   stdin : ONE JSON array of operation objects
 *   stdout: ONE JSON array of result objects, same order; exit 0
 *   on any error (bad JSON, bad op, a library throwing): message on stderr, nothing on
 *   stdout, exit 1. The whole batch fails; the message names the index of the failing op.
 *
 * Operations:
 *   {"op":"encrypt","lib":"wecom"|"wechat","key":EncodingAESKey,"id":receiveid,
 *    "msg":utf8-string | "msg_b64":base64-of-exact-bytes,
 *    "token":T,"timestamp":"...","nonce":"...", "random":"16-byte string" (optional)}
 *      -> {"encrypt":base64, "signature":sha1-hex over sort(token,timestamp,nonce,encrypt)}
 *      "random": honoured by "wecom" only (passed as a Buffer to encrypt(), must be exactly
 *      16 bytes in UTF-8). wechat-crypto's WXBizMsgCrypt#encrypt always draws its prefix
 *      from crypto.pseudoRandomBytes(16) and has no parameter for it, so for "wechat" the
 *      "random" field is IGNORED and its output is not deterministic.
 *      "msg_b64": both libraries pass the message through Buffer.from()/new Buffer(), so a
 *      Buffer is taken byte-exact by both.
 *   {"op":"decrypt","lib":...,"key":EncodingAESKey,"encrypt":base64,"id":receiveid (optional)}
 *      -> {"message":utf8-string,"id":receiveid-found-in-plaintext}
 *      Neither library checks the receiveid: the oracle does not either; it reports the id it
 *      found and the caller compares. For "wechat" the given id (or a placeholder when
 *      absent) is only used to satisfy the WXBizMsgCrypt constructor.
 *   {"op":"sign","lib":...,"token":T,"timestamp":"...","nonce":"...","encrypt":"..."}
 *      -> {"signature":sha1-hex}
 *      For "wechat", getSignature is an instance method, so a WXBizMsgCrypt is built with
 *      the given token, plus "key"/"id" if the op has them, else placeholders (neither is
 *      used by getSignature).
 *   timestamp/nonce may be JSON strings or numbers; they are turned into strings first.
 */

const wecom = require('@wecom/crypto');
const WXBizMsgCrypt = require('wechat-crypto');

// Placeholders for WXBizMsgCrypt's constructor, which insists on a truthy token and id and
// on a key that decodes to 32 bytes, even for methods that use none of them.
const DUMMY_KEY = 'A'.repeat(43); // decodes to 32 zero bytes
const DUMMY_ID = 'oracle-placeholder-id';

function str(op, name, { optional = false } = {}) {
  const v = op[name];
  if (v === undefined || v === null) {
    if (optional) return undefined;
    throw new Error(`missing field "${name}"`);
  }
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') throw new Error(`field "${name}" must be a string`);
  return v;
}

function b64bytes(s, name) {
  // Node's base64 decoder silently skips bad characters; insist on canonical input so a
  // typo in a test does not turn into a different message.
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) {
    throw new Error(`field "${name}" is not valid base64`);
  }
  return Buffer.from(s, 'base64');
}

function message(op) {
  const hasMsg = op.msg !== undefined;
  const hasB64 = op.msg_b64 !== undefined;
  if (hasMsg === hasB64) throw new Error('exactly one of "msg" and "msg_b64" is required');
  return hasMsg ? str(op, 'msg') : b64bytes(str(op, 'msg_b64'), 'msg_b64');
}

function lib(op) {
  const l = op.lib;
  if (l !== 'wecom' && l !== 'wechat') throw new Error(`unknown lib ${JSON.stringify(l)}`);
  return l;
}

function doEncrypt(op) {
  const l = lib(op);
  const key = str(op, 'key');
  const id = str(op, 'id');
  const token = str(op, 'token');
  const timestamp = str(op, 'timestamp');
  const nonce = str(op, 'nonce');
  const msg = message(op);
  const random = str(op, 'random', { optional: true });
  if (l === 'wecom') {
    let rnd;
    if (random !== undefined) {
      rnd = Buffer.from(random, 'utf8');
      if (rnd.length !== 16) throw new Error('"random" must be 16 bytes');
    }
    // encrypt(encodingAESKey, message, id, random = crypto.randomBytes(16))
    const encrypt = rnd === undefined
      ? wecom.encrypt(key, msg, id)
      : wecom.encrypt(key, msg, id, rnd);
    return { encrypt, signature: wecom.getSignature(token, timestamp, nonce, encrypt) };
  }
  // wechat-crypto: no way to pass a fixed random prefix; "random" is ignored (see header).
  const c = new WXBizMsgCrypt(token, key, id);
  const encrypt = c.encrypt(msg);
  return { encrypt, signature: c.getSignature(timestamp, nonce, encrypt) };
}

function doDecrypt(op) {
  const l = lib(op);
  const key = str(op, 'key');
  const encrypt = str(op, 'encrypt');
  const id = str(op, 'id', { optional: true });
  let r;
  if (l === 'wecom') {
    r = wecom.decrypt(key, encrypt); // {message, id, random}
  } else {
    const c = new WXBizMsgCrypt('oracle-placeholder-token', key, id || DUMMY_ID);
    r = c.decrypt(encrypt); // {message, id}
  }
  return { message: r.message, id: r.id };
}

function doSign(op) {
  const l = lib(op);
  const token = str(op, 'token');
  const timestamp = str(op, 'timestamp');
  const nonce = str(op, 'nonce');
  const encrypt = str(op, 'encrypt');
  if (l === 'wecom') {
    return { signature: wecom.getSignature(token, timestamp, nonce, encrypt) };
  }
  const key = str(op, 'key', { optional: true }) || DUMMY_KEY;
  const id = str(op, 'id', { optional: true }) || DUMMY_ID;
  const c = new WXBizMsgCrypt(token, key, id);
  return { signature: c.getSignature(timestamp, nonce, encrypt) };
}

const OPS = { encrypt: doEncrypt, decrypt: doDecrypt, sign: doSign };

function main() {
  const input = require('fs').readFileSync(0, 'utf8');
  let ops;
  try {
    ops = JSON.parse(input);
  } catch (e) {
    throw new Error(`stdin is not JSON: ${e.message}`);
  }
  if (!Array.isArray(ops)) throw new Error('stdin must be a JSON array of operations');
  const results = ops.map((op, i) => {
    try {
      if (op === null || typeof op !== 'object' || Array.isArray(op)) {
        throw new Error('operation must be an object');
      }
      const f = Object.prototype.hasOwnProperty.call(OPS, op.op) ? OPS[op.op] : undefined;
      if (!f) throw new Error(`unknown op ${JSON.stringify(op.op)}`);
      return f(op);
    } catch (e) {
      throw new Error(`op #${i} (${op && op.op}/${op && op.lib}): ${e.message}`);
    }
  });
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`wx_oracle: ${e.message}\n`);
  process.exit(1);
}
