<?php
// SPDX-License-Identifier: Apache-2.0
// The plain-mode app again, as a DirectoryIndex guarded by <Files index.php>.
require __DIR__ . '/../php/wechat.php';
