#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
'use strict';
/*
 * wxpay_oracle.js - independent WeChat Pay API v3 crypto for the Perl tests
 * (t/pay.t), from the npm package wechatpay-axios-plugin 0.9.6 (pinned in
 * package.json): its Formatter.response (the signed message,
 * "timestamp\nnonce\nbody\n"), Rsa.sign / Rsa.verify (SHA256withRSA) and
 * Aes.AesGcm.encrypt (AEAD_AES_256_GCM, tag last).  No crypto here.
 *
 * Usage:  node wxpay_oracle.js < ops.json > results.json
 *   stdin : ONE JSON array of operations; stdout: ONE JSON array of results,
 *   same order; on any error: a message on stderr, nothing on stdout, exit 1.
 *
 *   {"op":"sign","key":"/path/private.pem","timestamp":"..","nonce":"..",
 *    "body":"utf-8 body"}                    -> {"signature": base64}
 *   {"op":"verify","cert":"/path/cert-or-public.pem","timestamp":"..",
 *    "nonce":"..","body":"..","signature":".."}  -> {"ok": true|false}
 *   {"op":"seal","apiv3":"32 bytes","nonce":"..","aad":"..",
 *    "plaintext":".."}                       -> {"ciphertext": base64}
 */
const fs = require('fs');
const crypto = require('crypto');
const { Rsa, Aes, Formatter } = require('wechatpay-axios-plugin');

const ops = JSON.parse(fs.readFileSync(0, 'utf8'));
const out = ops.map((o, i) => {
  try {
    switch (o.op) {
      case 'sign':
        return { signature: Rsa.sign(Formatter.response(o.timestamp, o.nonce, o.body),
                                     Rsa.from(`file://${o.key}`)) };
      case 'verify': {
        // A certificate's key, or a bare public key (the library's
        // Rsa.from takes the latter; Node reads the former).
        const pem = fs.readFileSync(o.cert, 'utf8');
        const key = pem.includes('CERTIFICATE')
          ? new crypto.X509Certificate(pem).publicKey
          : Rsa.from(`file://${o.cert}`, Rsa.KEY_TYPE_PUBLIC);
        return { ok: Rsa.verify(Formatter.response(o.timestamp, o.nonce, o.body),
                                o.signature, key) };
      }
      case 'seal':
        return { ciphertext: Aes.AesGcm.encrypt(o.plaintext, o.apiv3, o.nonce, o.aad) };
      default:
        throw new Error(`unknown op ${o.op}`);
    }
  } catch (e) {
    process.stderr.write(`wxpay_oracle.js: op ${i}: ${e.message}\n`);
    process.exit(1);
  }
  return null;
});
process.stdout.write(JSON.stringify(out));
