<?php
// SPDX-License-Identifier: Apache-2.0
// The same plain-mode app, at the URL configured for safe mode: it sees
// plaintext and a plain query, and its reply goes back encrypted.
require __DIR__ . '/wechat.php';
