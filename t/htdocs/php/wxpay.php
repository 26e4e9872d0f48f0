<?php
// SPDX-License-Identifier: Apache-2.0
// A WeChat Pay notification handler as the README writes it, minus any
// crypto: Apache's `Require wxpay-signature` verified and decrypted.  It
// answers 204 after saying (in a header) what it received.
$tx = json_decode(file_get_contents('php://input'), true);
header('X-Seen: ' . json_encode([
    'id'    => $_SERVER['WXPAY_ID'] ?? null,
    'event' => $_SERVER['WXPAY_EVENT_TYPE'] ?? null,
    'rtype' => $_SERVER['WXPAY_RESOURCE_TYPE'] ?? null,
    'ctime' => $_SERVER['WXPAY_CREATE_TIME'] ?? null,
    'trade' => $tx['out_trade_no'] ?? null,
    'state' => $tx['trade_state'] ?? null,
    'ctype' => $_SERVER['CONTENT_TYPE'] ?? null,
], JSON_UNESCAPED_UNICODE));
http_response_code(204);
