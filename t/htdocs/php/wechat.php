<?php
// SPDX-License-Identifier: Apache-2.0
// A plain-mode WeChat app as a PHP developer writes it, minus the
// signature check: Apache's `Require wx-signature` did that.  It answers
// with what it received, so the tests can compare byte for byte.
header('Content-Type: application/json');
echo json_encode([
    'method' => $_SERVER['REQUEST_METHOD'],
    'query'  => $_SERVER['QUERY_STRING'],
    'get'    => $_GET,
    'body'   => base64_encode(file_get_contents('php://input')),
]);
