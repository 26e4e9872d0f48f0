# SPDX-License-Identifier: Apache-2.0
# Require wx-signature in front of real apps: a recording HTTP app behind
# ProxyPass and a PHP script under php-fpm (mod_proxy_fcgi), both started
# here.  Signed requests arrive byte-exact; forged, stale, malformed and
# polluted ones never arrive.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET POST);
use File::Spec::Functions qw(catfile);
use HTTP::Request;
use JSON::PP ();
use MIME::Base64 qw(decode_base64);
use WxBackend;
use WxTest;

need_backends(qw(php-fpm));

my $app = WxBackend->start_http($ENV{WX_BACKEND_PORT},
                                catfile(t_logs(), 'backend.jsonl'));
my $fpm = WxBackend->start_fpm($ENV{WX_FPM_PORT},
                               catfile(t_logs(), 'php-fpm'));

my $ua = Apache::TestRequest::user_agent();

# A real plain-mode message as WeChat posts it, with bytes that a sloppy
# proxy or decoder would change: CRLF, UTF-8, '+', '%', a trailing newline.
my $xml = "<xml><ToUserName><![CDATA[gh_123]]></ToUserName>\r\n"
        . "<FromUserName><![CDATA[o+user/ID==]]></FromUserName>"
        . "<CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        . "<Content><![CDATA[\xe4\xbd\xa0\xe5\xa5\xbd 100%+1]]></Content>"
        . "<MsgId>24536</MsgId></xml>\n";

sub send_req {
    my ($method, $url, $body, %h) = @_;
    my $req = HTTP::Request->new($method => Apache::TestRequest::resolve_url($url));
    $req->header('Content-Type' => $h{ctype} // 'text/xml');
    if (defined $body) {
        $req->content($body);
        $req->header('Content-Length' => length $body);
    }
    return $ua->request($req);
}

sub n_hits { scalar @{ $app->hits } }

# A request the guard must stop: status, log reason, and no new hit.
sub refused {
    my (%c) = @_;
    my $before = n_hits();
    my $fpm_before = scalar @{ $fpm->fpm_hits };
    my $lm = log_mark();
    my $nm = note_mark();
    my $method = $c{method} // 'POST';
    my $res = send_req($method, $c{url}, $xml, %c);
    is($res->code, $c{status}, "$c{name}: $c{status}");
    if ($c{why}) {
        my @wx = grep { /\[wx_valid:info\]/ } wx_lines_since($lm);
        like($wx[0] // '', qr/ \Q$c{why}\E$/, "$c{name}: logs '$c{why}'");
    }
    my $note = $c{note} // ($c{why} // '') =~ s/:.*//r;
    if ($note) {
        my ($path) = $c{url} =~ m{^([^?]*)};
        is(note_since($nm, $method, $path) // '', "$method $path $c{status} $note",
           "$c{name}: note '$note'");
    }
    is(n_hits(), $before, "$c{name}: the app saw nothing");
    is(scalar @{ $fpm->fpm_hits }, $fpm_before, "$c{name}: php-fpm ran nothing");
    return $res;
}

my $now = time;

# -- one URL, proxied app ---------------------------------------------------

my $q = signed_query(token => 'ProxyTok3n', echostr => 'VerifyMe+1');
my $res = GET("/proxied?$q");
is($res->code, 200, 'proxied: verification GET answered by Apache');
is($res->content, 'VerifyMe+1', 'proxied: echostr byte-exact');
is(n_hits(), 0, 'proxied: the verification GET did not reach the app');

$q = signed_query(token => 'ProxyTok3n') . '&openid=o+user%2FID%3D%3D';
$res = send_req('POST', "/proxied?$q", $xml);
is($res->code, 200, 'proxied: signed POST: 200');
is($res->content, 'backend-ok', 'proxied: signed POST: the app answered');
my $hits = $app->hits;
is(scalar @$hits, 1, 'proxied: the app got the signed POST, once');
is($hits->[0]{method}, 'POST', 'proxied: method');
is($hits->[0]{target}, "/app?$q", 'proxied: query forwarded untouched');
is($hits->[0]{body}, $xml, 'proxied: body byte-exact');
is($hits->[0]{headers}{'content-length'}, length $xml, 'proxied: Content-Length');

my $stale = signed_query(token => 'ProxyTok3n', timestamp => $now - 3600);
my $sig = sign('ProxyTok3n', $now, 'n1');
my $base = "signature=$sig&timestamp=$now&nonce=n1";
for my $case (
    ['forged POST', '/proxied?' . signed_query(token => 'Forged123'), 403,
     'bad-signature: signature does not match the token (WxToken), for /proxied'],
    ['stale POST', "/proxied?$stale", 403,
     'stale: timestamp is older than the max age (WxMaxAge), for /proxied'],
    ['unsigned POST', '/proxied', 403,
     'malformed: signature missing, for /proxied'],
    ['POST without nonce', "/proxied?signature=$sig&timestamp=$now", 403,
     'malformed: nonce missing, for /proxied'],
    ['forged GET, no echostr', '/proxied?' . signed_query(token => 'Forged123'),
     403, 'bad-signature: signature does not match the token (WxToken), for /proxied',
     'GET'],
) {
    my ($name, $url, $status, $why, $method) = @$case;
    refused(name => $name, url => $url, status => $status, why => $why,
            method => $method);
}

# A signed GET without echostr passes the guard, then the handler refuses
# it: the note and the log say malformed, not the guard's ok.
{
    my $lm = log_mark();
    my $nm = note_mark();
    my $before = n_hits();
    $res = GET('/proxied?' . signed_query(token => 'ProxyTok3n'));
    is($res->code, 400, 'signed GET without echostr: 400 from the handler');
    is(note_since($nm, 'GET', '/proxied') // '', 'GET /proxied 400 malformed',
       'signed GET without echostr: note malformed');
    ok((grep { /WXV00001: malformed: echostr missing, for \/proxied$/ }
        wx_lines_since($lm)), 'signed GET without echostr: logged');
    is(n_hits(), $before, 'signed GET without echostr: the app saw nothing');
}

# Parameter pollution: a second copy, in any order or spelling, is refused
# even when one copy is properly signed.
my $other = sign('ProxyTok3n', $now, 'n2');
for my $case (
    ["$base&nonce=n1",                           'nonce twice, same value'],
    ["nonce=n2&$base",                           'nonce twice, forged copy first'],
    ["$base&nonce=n2",                           'nonce twice, forged copy last'],
    ["$base&%6Eonce=n2",                         'nonce %-encoded'],
    ["$base&Nonce=n2",                           'Nonce (case)'],
    ["$base&non%63e=n2",                         'non%63e'],
    ["$base&signature=$other",                   'signature twice'],
    ["signature=$other&$base",                   'signature twice, other first'],
    ["$base&signature[]=$other",                 'signature[] (PHP array)'],
    ["$base&timestamp=1",                        'timestamp twice'],
    ["$base&time.stamp=1",                       'time.stamp is not ours'],
    ["$base&msg_signature=x&msg_signature=y",    'msg_signature twice'],
    ["$base&msg.signature=x",                    'msg.signature (PHP: msg_signature)'],
    ["$base&msg+signature=x",                    'msg+signature (PHP: msg_signature)'],
    ["$base&msg%20signature=x",                  'msg%20signature (PHP: msg_signature)'],
    ["$base&msg[signature=x",                    'msg[signature (PHP: msg_signature)'],
    ["$base&+nonce=n2",                          '+nonce (PHP drops leading spaces)'],
    ["$base&x=1;nonce=n2",                       "';nonce' (CGI.pm, old Python, Go)"],
    ["$base&%u006Eonce=n2",                      '%u006Eonce (.NET)'],
) {
    my ($query, $name) = @$case;
    if ($name =~ /not ours/) {
        my $before = n_hits();
        $res = send_req('POST', "/proxied?$query", $xml);
        is($res->code, 200, "$name: passes");
        is(n_hits(), $before + 1, "$name: reaches the app");
        next;
    }
    refused(name => "pollution: $name", url => "/proxied?$query", status => 403,
            note => 'malformed');
}

# WeChat posts XML or JSON; a form body would put fields beside the query.
for my $ct ('application/x-www-form-urlencoded', 'Multipart/Form-Data; boundary=x') {
    refused(name => "signed POST with Content-Type $ct",
            url => "/proxied?$base", status => 403, ctype => $ct,
            why => 'malformed: form-encoded request body, whose fields would '
                 . 'stand beside the signed query, for /proxied');
}
$res = send_req('POST', "/proxied?$base", '{"ToUserName":"gh_1"}',
                ctype => 'application/json');
is($res->code, 200, 'signed JSON POST (Mini Program) passes');

# -- the guard alone: any method ---------------------------------------------

for my $m (qw(GET POST PUT DELETE PATCH)) {
    refused(name => "guarded: forged $m", method => $m, status => 403,
            url => '/guarded?' . signed_query(token => 'Forged123'));
    my $before = n_hits();
    my $sq = signed_query(token => 'ProxyTok3n');
    $res = send_req($m, "/guarded?$sq", $m eq 'GET' ? undef : $xml);
    is($res->code, 200, "guarded: signed $m: 200");
    is($app->hits->[-1]{target}, "/guarded?$sq", "guarded: signed $m arrived");
}

# -- one URL, PHP under php-fpm ------------------------------------------------

$q = signed_query(token => 'PhpTok3n', echostr => 'PhpVerify%2B1');
$res = GET("/php/wechat.php?$q");
is($res->code, 200, 'php: verification GET answered by Apache');
is($res->content, 'PhpVerify+1', 'php: echostr byte-exact');
is(scalar @{ $fpm->fpm_hits }, 0, 'php: php-fpm never ran for it');

$q = signed_query(token => 'PhpTok3n') . '&openid=oUser1';
$res = send_req('POST', "/php/wechat.php?$q", $xml);
is($res->code, 200, 'php: signed POST: 200');
my $got = eval { JSON::PP->new->decode($res->content) } // {};
is($got->{method}, 'POST', 'php: the script saw a POST');
is($got->{query}, $q, 'php: QUERY_STRING untouched');
is($got->{get}{openid}, 'oUser1', 'php: $_GET works');
is(decode_base64($got->{body} // ''), $xml, 'php: php://input byte-exact');
is(scalar @{ $fpm->fpm_hits }, 1, 'php: php-fpm ran once');

refused(name => 'php: forged POST', url => '/php/wechat.php?'
        . signed_query(token => 'Forged123'), status => 403,
        why => 'bad-signature: signature does not match the token (WxToken), for /php/wechat.php');
refused(name => 'php: polluted POST', status => 403,
        url => "/php/wechat.php?" . signed_query(token => 'PhpTok3n')
             . "&signature[]=x");
refused(name => 'php: forged GET', method => 'GET', status => 403,
        url => '/php/wechat.php?' . signed_query(token => 'Forged123',
                                                  echostr => 'x'));

# -- composition with Require ip -------------------------------------------

my $signed = signed_query(token => 'ComboTok3n');
my $forged = signed_query(token => 'Forged123');
for my $case (
    ['any-other-ip', $signed, 200], ['any-other-ip', $forged, 403],
    ['any-other-ip', '',      403],
    ['any-local-ip', $signed, 200], ['any-local-ip', $forged, 200],
    ['any-local-ip', '',      200],
    ['all-local-ip', $signed, 200], ['all-local-ip', $forged, 403],
    ['all-local-ip', '',      403],
    ['all-other-ip', $signed, 403], ['all-other-ip', $forged, 403],
    ['none',         $signed, 403], ['none',         $forged, 200],
) {
    my ($path, $query, $status) = @$case;
    my $kind = $query eq $signed ? 'signed' : $query eq $forged ? 'forged' : 'unsigned';
    my $before = n_hits();
    $res = send_req('POST', "/combo/$path" . ($query ? "?$query" : ''), $xml);
    is($res->code, $status, "combo $path, $kind: $status");
    is(n_hits(), $before + ($status == 200 ? 1 : 0),
       "combo $path, $kind: " . ($status == 200 ? 'reaches' : 'does not reach')
       . ' the app');
}

# -- no token, .htaccess ---------------------------------------------------------

{
    my $lm = log_mark();
    my $before = n_hits();
    $res = send_req('POST', '/guard-notoken?' . signed_query(token => 'ProxyTok3n'), $xml);
    is($res->code, 500, 'Require wx-signature without WxToken: 500');
    ok((grep { /\[wx_valid:error\] .* WXV00006: no-token: Require wx-signature without a WxToken in effect, for \/guard-notoken$/ }
        wx_lines_since($lm)), 'no-token: the log names the URL');
    is(n_hits(), $before, 'no-token: the app saw nothing');
}

$res = GET('/guard-ht/hello.txt?' . signed_query(token => 'HtGuardTok3n'));
is($res->code, 200, '.htaccess guard: signed GET of a static file');
is($res->content, "hello from behind the guard\n", '.htaccess guard: the file');
is(GET('/guard-ht/hello.txt')->code, 403, '.htaccess guard: unsigned: 403');
is(GET('/guard-ht/hello.txt?' . signed_query(token => 'Forged123'))->code,
   403, '.htaccess guard: forged: 403');

$app->stop;
$fpm->stop;

done_testing();
