<?php
// SPDX-License-Identifier: Apache-2.0
// Under LimitRequestBody 100 (t/conf/extra.conf.in): never reached by the
// tests' safe-mode messages, which are longer.
require __DIR__ . '/wechat.php';
