<?php
// SPDX-License-Identifier: Apache-2.0
// The front controller's target (t/conf/extra.conf.in, <Directory front>):
// reached by an internal redirect, with the plaintext all the same.
require __DIR__ . '/../php/wechat.php';
