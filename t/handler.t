# SPDX-License-Identifier: Apache-2.0
# The wx-valid handler: every response row of docs/DESIGN.md §4 that needs
# neither crypto nor a replay cache, with status, body, headers, the
# wx-valid note and the one error-log line each outcome writes.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET HEAD POST);
use File::Spec::Functions qw(catfile);
use WxTest;

my $cur = 'CurTok3nAlpha';
my $old = 'OldTok3nBeta';

# One request through LWP: status, note, and the error-log reason.
#   $want_log: undef = no wx_valid line at all; else [level, tag, text]
sub check {
    my (%c) = @_;
    my $lm = log_mark();
    my $nm = note_mark();
    my $method = $c{method} // 'GET';
    my $res = $method eq 'GET'  ? GET($c{url})
            : $method eq 'HEAD' ? HEAD($c{url})
            : $method eq 'POST' ? POST($c{url}, content => 'x=1')
            : Apache::TestRequest::user_agent()->request(
                  HTTP::Request->new($method => Apache::TestRequest::resolve_url($c{url})));
    is($res->code, $c{status}, "$c{name}: status $c{status}");
    my @wx = wx_lines_since($lm);
    if (my $l = $c{log}) {
        my ($level, $tag, $text) = @$l;
        is(scalar(@wx), 1, "$c{name}: one wx_valid log line");
        like($wx[0] // '', qr/\[wx_valid:\Q$level\E\] .* \Q$tag: $text\E$/,
             "$c{name}: logs '$tag: $text'");
    }
    else {
        my @loud = grep { !/\[wx_valid:(?:debug|trace\d)\]/ } @wx;
        is(scalar(@loud), 0, "$c{name}: no wx_valid log line at info");
    }
    my ($path) = $c{url} =~ m{^([^?]*)};
    is(note_since($nm, $method, $path) // '',
       "$method $path $c{status} $c{note}",
       "$c{name}: note '$c{note}'");
    return $res;
}

my $now = time;

# -- valid verification: WeChat's published vectors ---------------------

my $v1 = 'signature=f464b24fc39322e44b38aa78f5edd27bd1441696'
       . '&echostr=4375120948345356249&timestamp=1714036504&nonce=1514711492';
my $res = check(name => 'V1', url => "/vectors?$v1", status => 200,
                note => 'ok');
is($res->content, '4375120948345356249', 'V1: body is echostr, byte-exact');
is($res->header('Content-Type'), 'text/plain', 'V1: Content-Type text/plain');
is($res->header('Content-Length'), 19, 'V1: Content-Length');
is($res->header('X-Content-Type-Options'), 'nosniff', 'V1: nosniff');
is($res->header('Cache-Control'), undef, 'V1: no Cache-Control (none needed)');
ok(!defined $res->header('Last-Modified') && !defined $res->header('Expires'),
   'V1: no validator or expiry a cache could store it by');

# With mod_deflate and mod_brotli on for text/plain, a client that accepts
# compression still gets the bytes of echostr (and the filters do work:
# a static text/plain file comes back compressed).
# (mod_brotli only where this httpd has it: a source build without
# libbrotli-dev has none, and says so here.)
my @enc = ('gzip');
if (Apache::Test::have_module('brotli')) {
    push @enc, 'br';
} else {
    diag('no mod_brotli in this httpd: Accept-Encoding br not tested');
}
for my $enc (@enc) {
    my $r = GET("/vectors?$v1", 'Accept-Encoding' => $enc);
    is($r->header('Content-Encoding'), undef, "V1, Accept-Encoding $enc: not compressed");
    is($r->content, '4375120948345356249', "V1, Accept-Encoding $enc: body exact");
    is(GET('/plain.txt', 'Accept-Encoding' => $enc)->header('Content-Encoding'),
       $enc, "a static text/plain file is $enc-compressed (the filter is on)");
}

$res = check(name => 'V1 HEAD', method => 'HEAD', url => "/vectors?$v1",
             status => 200, note => 'ok');
is($res->content, '', 'V1 HEAD: no body');
is($res->header('Content-Length'), 19, 'V1 HEAD: Content-Length of the GET');

# V2 is a message POST's query; its signature covers no echostr.
$res = check(name => 'V2', status => 200, note => 'ok',
             url => '/vectors?signature=899cf89e464efb63f54ddac96b0a0a235f53aa78'
                  . '&timestamp=1714037059&nonce=486452656&echostr=V2echo');
is($res->content, 'V2echo', 'V2: body');

$res = check(name => 'V3', status => 200, note => 'ok',
             url => '/vectors3?signature=f21891de399b4e33a1a93c9a7b8a8fffb5a443ff'
                  . '&timestamp=1410685589&nonce=test&echostr=V3echo');
is($res->content, 'V3echo', 'V3: body');

check(name => 'V1 under another token', url => "/wx?$v1", status => 403,
      note => 'bad-signature',
      log => ['info', 'WXV00002',
              'bad-signature: signature matches none of the tokens (WxToken), for /wx']);

# -- byte-exact echo: '+' stays '+', %XX and only %XX is decoded ----------

for my $case (
    ['a+b%2Bc%2bd', 'a+b+c+d', 'literal + and %2B'],
    # V4's echostr as WeCom sends it, %2F %2B %3D included
    ['P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D',
     'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==',
     'base64 echostr'],
    ['%E4%B8%AD%E6%96%87', "\xe4\xb8\xad\xe6\x96\x87", 'UTF-8 bytes'],
    ['%22quoted%22%0A', qq{"quoted"\n}, 'quote and newline stay as sent'],
) {
    my ($wire, $want, $name) = @$case;
    my ($st, $h, $body) =
        raw_get('/wx?' . signed_query(token => $cur, echostr => $wire));
    is($st, 200, "echo $name: 200");
    is($body, $want, "echo $name: body byte-exact");
    is($h->{'content-length'}, length($want), "echo $name: Content-Length");
}

# -- tokens: rotation, inheritance, the environment, virtual hosts --------

# At debug, an ok names which token signed: when the previous one stops
# showing up, its rotation is over.
for my $case (
    ['/wx',        $cur, 200, 'current token', '1 of 2'],
    ['/wx',        $old, 200, 'previous token (rotation)', '2 of 2'],
    ['/wx',        'WrongTok3n', 403, 'unknown token'],
    ['/wx/child',  'ChildTok3n', 200, '<Location> child: its own token', '1 of 1'],
    ['/wx/child',  $cur, 403, '<Location> child: parent token replaced'],
    ['/wx/short',  $old, 200, '<Location> child: inherits tokens', '2 of 2'],
    ['/env',       'EnvTok3nFromEnv', 200, 'WxToken ${WX_TEST_ENV_TOKEN}', '1 of 1'],
) {
    my ($path, $tok, $status, $name, $which) = @$case;
    my $r = check(name => $name, status => $status,
                  note => $status == 200 ? 'ok' : 'bad-signature',
                  url => "$path?" . signed_query(token => $tok, echostr => 'E1'),
                  $status == 200
                  ? (log => ['debug', 'WXV00008',
                             "ok: signed with WxToken $which, for $path"])
                  : (log => ['info', 'WXV00002',
                      "bad-signature: signature "
                      . ($path eq '/wx' ? 'matches none of the tokens (WxToken)'
                                        : 'does not match the token (WxToken)')
                      . ", for $path"]));
    is($r->content, 'E1', "$name: body") if $status == 200;
}

{
    Apache::TestRequest::module('wx_vhost');
    my $r = GET('/v?' . signed_query(token => 'VhostTok3n', echostr => 'VH'));
    is($r->code, 200, 'WxToken in <VirtualHost>: 200');
    is($r->content, 'VH', 'WxToken in <VirtualHost>: body');
    $r = GET('/v?' . signed_query(token => $cur, echostr => 'VH'));
    is($r->code, 403, '<VirtualHost>: main server token not in effect');
    Apache::TestRequest::module('default');
}

# -- WxMaxAge ---------------------------------------------------------------

for my $case (
    ['/wx',       $now - 1000, 403, 'older than the max age (WxMaxAge)', '1000 s old, default 300'],
    ['/wx',       $now + 1000, 403, 'ahead',               '1000 s ahead, default 300'],
    ['/wx',       $now - 200,  200, undef,                 '200 s old, default 300'],
    ['/wx',       $now + 200,  200, undef,                 '200 s ahead, default 300'],
    ['/wx/short', $now - 120,  403, 'older than the max age (WxMaxAge)', '120 s old, WxMaxAge 60'],
    ['/wx/short', $now + 120,  403, 'ahead',               '120 s ahead, WxMaxAge 60'],
    ['/wx/short', $now - 30,   200, undef,                 '30 s old, WxMaxAge 60'],
    ['/wx/off',   1,           200, undef,                 'timestamp 1, WxMaxAge off'],
    ['/wx/off',   $now + 9e6,  200, undef,                 '104 days ahead, WxMaxAge off'],
) {
    my ($path, $ts, $status, $kind, $name) = @$case;
    my $text = !$kind ? undef
             : $kind eq 'ahead'
               ? "stale: timestamp is ahead of the server clock by more than the max age (WxMaxAge), for $path"
               : "stale: timestamp is older than the max age (WxMaxAge), for $path";
    check(name => $name, status => $status,
          note => $status == 200 ? 'ok' : 'stale',
          url => "$path?" . signed_query(token => $cur, timestamp => $ts,
                                         echostr => 'T'),
          $text ? (log => ['info', 'WXV00003', $text]) : ());
}

# A wrong signature on a stale request: bad-signature (checked first).
check(name => 'stale and forged', status => 403, note => 'bad-signature',
      url => '/wx?' . signed_query(token => 'Nope1234', timestamp => 1,
                                   echostr => 'T'),
      log => ['info', 'WXV00002',
              'bad-signature: signature matches none of the tokens (WxToken), for /wx']);

# -- malformed ------------------------------------------------------------

my $ts = $now;
my $sig = sign($cur, $ts, 'n1');
my $good = "signature=$sig&timestamp=$ts&nonce=n1";
for my $case (
    ["timestamp=$ts&nonce=n1&echostr=e",                 'signature missing'],
    ["signature=&timestamp=$ts&nonce=n1&echostr=e",      'signature empty'],
    ["signature=$sig&nonce=n1&echostr=e",                'timestamp missing'],
    ["signature=$sig&timestamp=&nonce=n1&echostr=e",     'timestamp empty'],
    ["signature=$sig&timestamp=$ts&echostr=e",           'nonce missing'],
    ["signature=$sig&timestamp=$ts&nonce=&echostr=e",    'nonce empty'],
    [$good,                                              'echostr missing'],
    ["$good&echostr=",                                   'echostr empty'],
    ["signature=$sig&timestamp=${ts}x&nonce=n1&echostr=e", 'timestamp is not all digits'],
    ["signature=$sig&timestamp=-$ts&nonce=n1&echostr=e", 'timestamp is not all digits'],
    ["$good&echostr=e&signature=$sig",                   'parameter signature repeated'],
    ["$good&echostr=e&nonce=n1",                         'parameter nonce repeated'],
    ["$good&echostr=e&timestamp=$ts",                    'parameter timestamp repeated'],
    ["$good&echostr=e&echostr=f",                        'parameter echostr repeated'],
    ["$good&echostr=e&%6Eonce=n1",                       'parameter nonce repeated'],
    ["$good&echostr=e&Nonce=n2",                         'a parameter name that some frameworks read as nonce'],
    ["$good&echostr=e&msg.signature=x",                  'a parameter name that some frameworks read as msg_signature'],
    ["$good&echostr=e&signature[]=x",                    'a parameter name that some frameworks read as signature'],
    ["$good&echostr=" . ('x' x 4097),                    'parameter echostr over 4096 bytes'],
    ["$good&echostr=a%2",                                'parameter echostr has a broken %-escape or %00'],
    ["$good&echostr=a%00b",                              'parameter echostr has a broken %-escape or %00'],
    ["$good&echostr=a%zzb",                              'parameter echostr has a broken %-escape or %00'],
) {
    my ($q, $why) = @$case;
    my $r = check(name => "malformed: $why", url => "/wx?$q", status => 400,
                  note => 'malformed',
                  log => ['info', 'WXV00001', "malformed: $why, for /wx"]);
}

# 4096 bytes is still fine.
$res = check(name => '4096-byte echostr', status => 200, note => 'ok',
             url => "/wx?$good&echostr=" . ('y' x 4096));
is(length($res->content), 4096, '4096-byte echostr: echoed whole');

# A refusal never repeats request input.
$res = GET("/wx?signature=x&timestamp=1&nonce=UniqueNonceMarker&echostr=UniqueEchoMarker");
is($res->code, 403, 'forged: 403');
unlike($res->content, qr/UniqueNonceMarker|UniqueEchoMarker/,
       'forged: the response holds no request input');

# -- methods ----------------------------------------------------------------

for my $m (qw(POST PUT DELETE OPTIONS PATCH)) {
    my $q = signed_query(token => $cur, echostr => 'E');
    my $r = check(name => $m, method => $m, url => "/wx?$q", status => 405,
                  note => 'method',
                  log => ['info', 'WXV00004',
                          "method: $m is not GET or HEAD, for /wx"]);
    is(join(',', sort split /\s*,\s*/, $r->header('Allow') // ''),
       'GET,HEAD', "$m: Allow lists GET and HEAD");
    unlike($r->content, qr/\b$m\b/, "$m: the page does not repeat the method");
}

# -- no token ---------------------------------------------------------------

check(name => 'no WxToken', url => '/notoken?' . signed_query(token => $cur,
                                                              echostr => 'E'),
      status => 500, note => 'no-token',
      log => ['error', 'WXV00006',
              'no-token: SetHandler wx-valid without a WxToken in effect'
              . ', for /notoken']);

# The version, from the one place it is kept (VERSION), in the server
# signature.
{
    my $file = catfile(Apache::Test::vars('top_dir'), 'VERSION');
    open my $fh, '<', $file or die "$file: $!";
    chomp(my $version = <$fh>);
    like($version, qr/^\d+\.\d+\.\d+$/, 'VERSION is X.Y.Z');
    my $server = GET('/wx')->header('Server') // '';
    like($server, qr{ mod_wx_valid/\Q$version\E(?: |$)},
         "Server: ... mod_wx_valid/$version");
}

done_testing();
