# SPDX-License-Identifier: Apache-2.0
# Safe mode and WeCom, end to end.  Requests are encrypted and signed, and
# Apache's encrypted replies decrypted and checked, by two independent
# implementations (npm @wecom/crypto and wechat-crypto, t/lib/WxOracle.pm);
# WeCom's published vector V4 goes in as it is.  A recording app behind
# ProxyPass and a PHP script under php-fpm prove what reached the app:
# plaintext, a plain query, and nothing tampered with.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET HEAD);
use File::Spec::Functions qw(catfile);
use HTTP::Request;
use IO::Socket::INET;
use JSON::PP ();
use MIME::Base64 qw(decode_base64);
use URI::Escape qw(uri_escape);
use WxBackend;
use WxOracle;
use WxTest;

need_backends(qw(php-fpm node));

my $app = WxBackend->start_http($ENV{WX_BACKEND_PORT},
                                catfile(t_logs(), 'backend-safe.jsonl'));
my $fpm = WxBackend->start_fpm($ENV{WX_FPM_PORT},
                               catfile(t_logs(), 'php-fpm-safe'));
my $ua = Apache::TestRequest::user_agent();

my %key = (
    cur   => 'CurrentKey0123456789abcdefghijklmnopqrstuvw',
    old   => 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
    other => 'OtherKeyXYZ0123456789abcdefghijklmnopqrstuv',
    v4    => 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
);
my $corpid = 'ww0123456789abcdef';
my $appid  = 'wxsafe0123456789ab';

sub n_hits { scalar @{ $app->hits } }

# The first wx_valid line logged since $lm at $level.
sub wx_line {
    my ($lm, $level) = @_;
    my @l = grep { /\[wx_valid:$level\]/ } wx_lines_since($lm);
    return $l[0] // '';
}

# One request and what the module made of it: the response, and checks
# of status, note and (when given) the log reason.
sub check {
    my (%c) = @_;
    my $lm = log_mark();
    my $nm = note_mark();
    my $method = $c{method} // 'GET';
    my $req = HTTP::Request->new(
        $method => Apache::TestRequest::resolve_url($c{url}));
    if (defined $c{body}) {
        $req->content($c{body});
        $req->header('Content-Length' => length $c{body});
        $req->header('Content-Type' => $c{ctype} // 'text/xml');
    }
    my $res = $c{raw} ? raw_request($method, $c{url}, $c{body}) : $ua->request($req);
    is($res->code, $c{status}, "$c{name}: $c{status}");
    # What httpd logs as %U: mod_dir turns /dir/ into /dir/index.php.
    my ($path) = ($c{logpath} // $c{url}) =~ m{^([^?]*)};
    is(note_since($nm, $method, $path) // '', "$method $path $c{status} $c{note}",
       "$c{name}: note '$c{note}'");
    if ($c{why}) {
        my $for = $c{whypath} // $path;
        like(wx_line($lm, $c{level} // 'info'), qr/ \Q$c{note}: $c{why}, for $for\E$/,
             "$c{name}: logs '$c{why}'");
    }
    return $res;
}

# -- WeCom URL verification in the handler ----------------------------------

my $v4 = 'msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3'
       . '&timestamp=1409659589&nonce=263014780&echostr='
       . 'P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp'
       . '%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D';
my $res = check(name => 'V4 (WeCom published vector)', url => "/wecom-v4?$v4",
                status => 200, note => 'ok');
is($res->content, '1616140317555161061', 'V4: the plaintext, byte-exact');
is($res->header('Content-Type'), 'text/plain', 'V4: text/plain');
is($res->header('X-Content-Type-Options'), 'nosniff', 'V4: nosniff');

$res = HEAD("/wecom-v4?$v4");
is($res->code, 200, 'V4 HEAD: 200');
is($res->content, '', 'V4 HEAD: no body');
is($res->header('Content-Length'), 19, 'V4 HEAD: the plaintext\'s length');

{
    # '+' and '/' as WeCom may send them, unencoded: '+' stays '+'.
    (my $raw = $v4) =~ s/%2F/\//g;
    $raw =~ s/%2B/+/g;
    $raw =~ s/%3D/=/g;
    my ($st, $h, $body) = raw_get("/wecom-v4?$raw");
    is($st, 200, "V4 with a literal '+' and '/': 200");
    is($body, '1616140317555161061', "V4 with a literal '+': the plaintext");
}

check(name => 'V4 under another WxAppID', url => "/wecom-v4/otherid?$v4",
      status => 403, note => 'bad-appid',
      why => "the message's receiveid is not the one required (WxAppID)");
$res = check(name => 'V4 where no WxAppID is set', url => "/wecom-v4-anyid?$v4",
             status => 200, note => 'ok');
is($res->content, '1616140317555161061', 'V4 without WxAppID: the plaintext');
(my $v4bad = $v4) =~ s/msg_signature=5c45/msg_signature=5c46/;
check(name => 'V4 with msg_signature altered', url => "/wecom-v4?$v4bad",
      status => 403, note => 'bad-signature',
      why => 'msg_signature does not match the token (WxToken)');
(my $v4noecho = $v4) =~ s/&echostr=.*//;
check(name => 'WeCom GET without echostr', url => "/wecom-v4?$v4noecho",
      status => 400, note => 'malformed', why => 'echostr missing');

# A WeCom verification as each oracle makes it, now.
sub wecom_query {
    my (%a) = @_;
    my $ts = $a{timestamp} // time;
    my $nonce = int(rand(1e9));
    my $r = oracle_encrypt(lib => $a{lib} // 'wecom', key => $a{key},
                           id => $a{id} // $corpid, msg => $a{msg},
                           token => $a{token} // 'WeComTok3n',
                           timestamp => "$ts", nonce => "$nonce");
    return "msg_signature=$r->{signature}&timestamp=$ts&nonce=$nonce"
         . '&echostr=' . uri_escape($r->{encrypt});
}

for my $lib ('wecom', 'wechat') {
    my $msg = "echo-$lib-" . int(rand(1e9));
    $res = check(name => "WeCom verification by $lib",
                 url => '/wecom?' . wecom_query(lib => $lib, key => $key{cur},
                                                msg => $msg),
                 status => 200, note => 'ok');
    is($res->content, $msg, "WeCom verification by $lib: the plaintext");
}
$res = check(name => 'WeCom verification under the previous key',
             url => '/wecom?' . wecom_query(key => $key{old}, msg => 'old-key'),
             status => 200, note => 'ok');
is($res->content, 'old-key', 'previous key: the plaintext');
check(name => 'WeCom verification under an unknown key',
      url => '/wecom?' . wecom_query(key => $key{other}, msg => 'x'),
      status => 400, note => 'bad-cipher',
      why => "the ciphertext decrypts to WeChat's format under none of the "
           . 'keys (WxEncodingAESKey)');
check(name => 'WeCom verification for another CorpID',
      url => '/wecom?' . wecom_query(key => $key{cur}, msg => 'x',
                                     id => 'wwffffffffffffffff'),
      status => 403, note => 'bad-appid',
      why => "the message's receiveid is not the one required (WxAppID)");
check(name => 'WeCom verification, stale',
      url => '/wecom?' . wecom_query(key => $key{cur}, msg => 'x',
                                     timestamp => time - 3600),
      status => 403, note => 'stale', why => 'timestamp is older than the max age (WxMaxAge)');
{
    my $ts = time;
    my $sig = oracle_sign(lib => 'wecom', token => 'WeComTok3n',
                          timestamp => "$ts", nonce => '42',
                          encrypt => 'not*base64');
    check(name => 'WeCom verification, signed, not base64',
          url => "/wecom?msg_signature=$sig&timestamp=$ts&nonce=42"
               . '&echostr=not*base64',
          status => 400, note => 'bad-cipher',
          why => 'the ciphertext is not base64 (WxEncodingAESKey)');
}
check(name => 'WeCom verification where no key is set',
      url => '/wecom-nokey?' . wecom_query(key => $key{cur}, msg => 'x'),
      status => 500, note => 'no-key', level => 'error',
      why => 'msg_signature verified, but no WxEncodingAESKey is in effect to decrypt');
$res = check(name => 'a plain verification GET where a key is set',
             url => '/wecom?' . signed_query(token => 'WeComTok3n',
                                             echostr => 'plain+echo'),
             status => 200, note => 'ok');
is($res->content, 'plain+echo', 'plain GET: echostr as sent');

# -- Encrypted messages through the guard ------------------------------------

# A text message as WeChat writes it, with bytes a sloppy layer would
# change: UTF-8, '+', '&', '<' inside CDATA, CRLF, a trailing newline.
my $plain_xml = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>\r\n"
    . "<FromUserName><![CDATA[o+user/ID==]]></FromUserName>"
    . "<CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    . "<Content><![CDATA[\xe4\xbd\xa0\xe5\xa5\xbd 1+1 & <b>]]></Content>"
    . "<MsgId>24536</MsgId></xml>\n";
my $plain_json = '{"ToUserName":"gh_1","FromUserName":"o+user","MsgType":'
    . '"text","Content":"\u4f60\u597d & <b>","MsgId":24536}';

# Envelope kinds: the request body around Encrypt.
my %wrap = (
    xml   => sub { "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>\n"
                 . "<Encrypt><![CDATA[$_[0]]]></Encrypt>\n</xml>" },
    compat => sub { substr($plain_xml, 0, -7)
                  . "<Encrypt><![CDATA[$_[0]]]></Encrypt></xml>" },
    json  => sub { qq({"ToUserName":"gh_1","Encrypt":"$_[0]"}) },
    wecom => sub { qq({"tousername":"$corpid","encrypt":"$_[0]","agentid":1000002}) },
    wecom_xml => sub { "<xml><ToUserName><![CDATA[$corpid]]></ToUserName>"
                     . "<Encrypt><![CDATA[$_[0]]]></Encrypt>"
                     . "<AgentID><![CDATA[1000002]]></AgentID></xml>" },
    doctype => sub { "<!DOCTYPE xml><xml><Encrypt><![CDATA[$_[0]]]></Encrypt></xml>" },
);

# A signed, encrypted POST: (url, body, the query the app should see).
sub safe_post {
    my (%a) = @_;
    my $ts = $a{timestamp} // time;
    my $nonce = int(rand(1e9));
    my $token = $a{token} // 'SafeTok3n';
    my $r = oracle_encrypt(lib => $a{lib} // 'wechat', key => $a{key} // $key{cur},
                           id => $a{id} // $appid, msg => $a{msg} // $plain_xml,
                           token => $a{sign_token} // $token,
                           timestamp => "$ts", nonce => "$nonce");
    my $enc = $a{encrypt} // $r->{encrypt};
    my $msig = $a{encrypt} ? oracle_sign(lib => 'wecom', token => $token,
                                         timestamp => "$ts", nonce => "$nonce",
                                         encrypt => $enc)
                           : $r->{signature};
    my $plain = $a{wecom} ? '' : 'signature=' . sign($token, $ts, $nonce) . '&';
    my $seen = "${plain}timestamp=$ts&nonce=$nonce"
             . ($a{wecom} ? '' : '&openid=o%2Buser');
    my $query = "$seen&encrypt_type=aes&msg_signature=$msig";
    $query = "msg_signature=$msig&timestamp=$ts&nonce=$nonce" if $a{wecom};
    $query .= "&reply=$a{reply}" if $a{reply};
    $seen .= "&reply=$a{reply}" if $a{reply};
    my $body = $wrap{$a{env} // 'xml'}->($a{tamper} ? $a{tamper}->($enc) : $enc);
    return ("$a{path}?$query", $body, $seen);
}

# Apache's encrypted reply, opened: checks the envelope, the signature and
# the receiveid; returns the plaintext.
sub open_reply {
    my ($res, %a) = @_;
    my $body = $res->content;
    my ($enc, $sig, $ts, $nonce);
    if ($a{env} eq 'xml') {
        ($enc, $sig, $ts, $nonce) = $body =~ m{^<xml><Encrypt><!\[CDATA\[([A-Za-z0-9+/=]+)\]\]></Encrypt><MsgSignature><!\[CDATA\[([0-9a-f]{40})\]\]></MsgSignature><TimeStamp>(\d+)</TimeStamp><Nonce><!\[CDATA\[(\d{10})\]\]></Nonce></xml>$};
        ok(defined $enc, "$a{name}: reply in WeChat's XML envelope") or diag $body;
    }
    else {
        my @k = $a{env} eq 'json' ? qw(Encrypt MsgSignature TimeStamp Nonce)
                                  : qw(encrypt msgsignature timestamp nonce);
        my $j = eval { JSON::PP->new->decode($body) } // {};
        is(join(',', sort keys %$j), join(',', sort @k),
           "$a{name}: reply JSON keys @k");
        like($body, qr/"$k[2]":\d+[,}]/, "$a{name}: $k[2] is a number");
        ($enc, $sig, $ts, $nonce) = @$j{@k};
        like($nonce // '', qr/^\d{10}$/, "$a{name}: a 10-digit nonce");
    }
    ok(abs(($ts // 0) - time) <= 5, "$a{name}: reply timestamp is now");
    is(oracle_sign(lib => 'wecom', token => $a{token}, timestamp => "$ts",
                   nonce => "$nonce", encrypt => $enc // ''),
       $sig // '', "$a{name}: reply MsgSignature (checked by \@wecom/crypto)");
    my ($m1, $id1) = oracle_decrypt(lib => 'wecom', key => $a{key},
                                    encrypt => $enc // '');
    my ($m2, $id2) = oracle_decrypt(lib => 'wechat', key => $a{key},
                                    encrypt => $enc // '');
    is($m2, $m1, "$a{name}: both oracles decrypt the reply alike");
    is($id1, $a{id}, "$a{name}: reply receiveid");
    return $m1;
}

# A request written byte for byte (chunked, any method with a body: LWP
# sends none with a HEAD), read back whole however many responses it
# holds: the whole response as it came.
sub raw_send {
    my ($method, $url, $head, $body) = @_;
    my $hostport = Apache::TestRequest::hostport(Apache::Test::config());
    my $sock = IO::Socket::INET->new(PeerAddr => $hostport, Timeout => 10)
        or die "connect: $!";
    print $sock "$method $url HTTP/1.1\r\nHost: $hostport\r\nConnection: close\r\n"
              . "X-Wx-Seq: " . WxTest::_next_seq() . "\r\n"
              . "Content-Type: text/xml\r\n$head\r\n$body";
    return do { local $/; <$sock> } // '';
}

sub raw_post { return raw_send('POST', @_) }

# ... as an HTTP::Response, with its Content-Length.
sub raw_request {
    my ($method, $url, $body) = @_;
    my $resp = raw_send($method, $url, 'Content-Length: ' . length($body) . "\r\n",
                        $body);
    return HTTP::Response->parse($resp =~ s{^HTTP/\d\.\d }{}r);
}

# A safe-mode request the guard must refuse: nothing reaches the app.
sub refused {
    my (%c) = @_;
    my $before = n_hits();
    my ($url, $body) = safe_post(%c);
    check(%c, method => 'POST', url => $url, body => $body);
    is(n_hits(), $before, "$c{name}: the app saw nothing");
}

for my $case (
    # name, envelope, library, path, token, receiveid, request plaintext
    ['OA safe mode, XML',           'xml',       'wechat', '/safe', 'SafeTok3n', $appid, $plain_xml],
    ['OA compatible mode, XML',     'compat',    'wecom',  '/safe', 'SafeTok3n', $appid, $plain_xml],
    ['Mini Program, JSON',          'json',      'wecom',  '/safe', 'SafeTok3n', $appid, $plain_json],
    ['WeCom, JSON',                 'wecom',     'wechat', '/safe-wecom', 'WeComTok3n', $corpid, $plain_json],
    ['WeCom, XML',                  'wecom_xml', 'wecom',  '/safe-wecom', 'WeComTok3n', $corpid, $plain_xml],
) {
    my ($name, $env, $lib, $path, $token, $id, $msg) = @$case;
    my $wecom = $path eq '/safe-wecom';
    my $before = n_hits();
    my ($url, $body, $seen) = safe_post(env => $env, lib => $lib, path => $path,
                                        token => $token, id => $id, msg => $msg,
                                        wecom => $wecom, reply => 'echo');
    $res = check(name => $name, method => 'POST', url => $url, body => $body,
                 ctype => $env =~ /json|wecom$/ ? 'application/json' : 'text/xml',
                 status => 200, note => 'ok');
    my $hits = $app->hits;
    is(scalar @$hits, $before + 1, "$name: the app got it, once");
    my $hit = $hits->[-1];
    is($hit->{body}, $msg, "$name: the app got the plaintext, byte-exact");
    is($hit->{headers}{'content-length'}, length $msg,
       "$name: with the plaintext's Content-Length");
    is($hit->{target}, ($wecom ? '/wecom-app' : '/safe') . "?$seen",
       "$name: query without encrypt_type and msg_signature");
    my $reply = open_reply($res, name => $name, token => $token, key => $key{cur},
                           id => $id, env => $env =~ /^(xml|compat|wecom_xml)$/
                                                ? 'xml' : $env);
    is($reply, $msg, "$name: the app's reply, encrypted, decrypts to it");
}

# Key rotation: a message under the previous key; the reply under it too.
{
    my ($url, $body) = safe_post(path => '/safe', key => $key{old}, reply => 'echo');
    $res = check(name => 'previous key', method => 'POST', url => $url,
                 body => $body, status => 200, note => 'ok');
    is($app->hits->[-1]{body}, $plain_xml, 'previous key: the app got the plaintext');
    my $reply = open_reply($res, name => 'previous key', token => 'SafeTok3n',
                           key => $key{old}, id => $appid, env => 'xml');
    is($reply, $plain_xml, 'previous key: the reply is under the previous key');
}

# What the app answers with, and what goes back.
{
    my ($url, $body) = safe_post(path => '/safe');
    $res = check(name => 'reply backend-ok', method => 'POST', url => $url,
                 body => $body, status => 200, note => 'ok');
    is(open_reply($res, name => 'reply backend-ok', token => 'SafeTok3n',
                  key => $key{cur}, id => $appid, env => 'xml'),
       'backend-ok', 'a short reply, encrypted');
    for my $case (['success', 200, 'success'], ['empty', 200, ''],
                  ['fail', 500, 'backend-err']) {
        my ($mode, $status, $want) = @$case;
        ($url, $body) = safe_post(path => '/safe', reply => $mode);
        $res = check(name => "reply $mode", method => 'POST', url => $url,
                     body => $body, status => $status, note => 'ok');
        is($res->content, $want, "reply $mode: passed as it is, not encrypted");
    }
}

# Refusals: none reaches the app.
# One base64 character changed (any character: '+' and '/' too).
my $flip = sub { my $e = shift; substr($e, 10, 1) = substr($e, 10, 1) eq 'A' ? 'B' : 'A'; $e };
refused(name => 'Encrypt altered after signing', path => '/safe', tamper => $flip,
        status => 403, note => 'bad-signature',
        why => 'msg_signature does not match the token (WxToken)');
refused(name => 'signed with another token', path => '/safe',
        sign_token => 'Forged123', status => 403, note => 'bad-signature',
        why => 'msg_signature does not match the token (WxToken)');
refused(name => 'stale', path => '/safe', timestamp => time - 3600,
        status => 403, note => 'stale', why => 'timestamp is older than the max age (WxMaxAge)');
refused(name => 'for another AppID', path => '/safe', id => 'wxffffffffffffffff',
        status => 403, note => 'bad-appid',
        why => "the message's receiveid is not the one required (WxAppID)");
refused(name => 'under an unknown key', path => '/safe', key => $key{other},
        status => 400, note => 'bad-cipher',
        why => "the ciphertext decrypts to WeChat's format under none of the "
             . 'keys (WxEncodingAESKey)');
refused(name => 'signed, but not base64', path => '/safe', encrypt => 'bm90*YmFzZTY0',
        status => 400, note => 'bad-cipher', why => 'the ciphertext is not base64 (WxEncodingAESKey)');
refused(name => 'signed, not whole AES blocks', path => '/safe',
        encrypt => 'AAAAAAAAAAAAAAAAAAAAAA==', status => 400, note => 'bad-cipher',
        why => 'the ciphertext is not a whole number of AES blocks (WxEncodingAESKey)');
refused(name => 'WeCom JSON under an unknown key', path => '/safe-wecom',
        token => 'WeComTok3n', id => $corpid, env => 'wecom', wecom => 1,
        key => $key{other}, status => 400, note => 'bad-cipher');
{
    my $before = n_hits();
    my ($url) = safe_post(path => '/safe');
    check(name => 'body without Encrypt', method => 'POST', url => $url,
          body => $plain_xml, status => 403, note => 'malformed',
          why => 'the request body has no Encrypt');
    check(name => 'body that is not XML or JSON', method => 'POST', url => $url,
          body => 'Encrypt=abc', ctype => 'text/plain', status => 403,
          note => 'malformed', why => 'the request body is neither XML nor JSON');
    my $big = '<xml><Encrypt>' . ('A' x 300_000) . '</Encrypt></xml>';
    check(name => 'body over 262144 bytes', method => 'POST', url => $url,
          body => $big, status => 413, note => 'too-large',
          why => 'request body over 262144 bytes (Content-Length)');
    is(n_hits(), $before, 'malformed and oversized: the app saw nothing');

    # Chunked, so no Content-Length to refuse up front.
    my $lm = log_mark();
    my $resp = raw_post($url, "Transfer-Encoding: chunked\r\n",
                        sprintf("%x\r\n%s\r\n", 65536, 'A' x 65536) x 5
                        . "0\r\n\r\n");
    like($resp, qr{^HTTP/1\.1 413 }, 'chunked body over 262144 bytes: 413');
    like(wx_line($lm, 'info'), qr/too-large: request body over 262144 bytes, for \/safe$/,
         'chunked: logs too-large');
    is(n_hits(), $before, 'chunked: the app saw nothing');
}

# Where a key is set, a POST signed the plain way only is refused: its
# body is signed by nothing, and must never pass for a decrypted one.
{
    my $before = n_hits();
    my $q = signed_query(token => 'SafeTok3n');
    check(name => 'plain-mode POST where a key is set', method => 'POST',
          url => "/safe?$q", body => $plain_xml, status => 403, note => 'malformed',
          why => 'msg_signature missing, and a WxEncodingAESKey is in effect');
    is(n_hits(), $before, 'plain-mode POST where a key is set: the app saw nothing');
}

# XML of a shape WeChat never sends is refused before it is parsed.
refused(name => 'XML with a DOCTYPE', path => '/safe',
        tamper => sub { $_[0] }, status => 403, note => 'malformed',
        why => "the request body's XML has a DOCTYPE or comment",
        env => 'doctype');

# What the app's reply can be that cannot go out encrypted.
{
    my ($url, $body) = safe_post(path => '/safe', reply => 'broken');
    $res = check(name => 'the app broke off mid-reply', method => 'POST', url => $url,
                 body => $body, status => 502, note => 'ok');
    for my $case (['big', 'it is over 262144 bytes'],
                  ['gzip', 'it is compressed (Content-Encoding)']) {
        my ($mode, $why) = @$case;
        my $lm = log_mark();
        ($url, $body) = safe_post(path => '/safe', reply => $mode);
        $res = check(name => "reply $mode", method => 'POST', url => $url,
                     body => $body, status => 500, note => 'ok');
        like(wx_line($lm, 'error'),
             qr/WXV00014: the app's reply cannot be encrypted: \Q$why\E, for \/safe$/,
             "reply $mode: logged");
        unlike($res->content, qr/xxxxxxxxxx/, "reply $mode: none of it went out");
    }
}

# A front controller: mod_rewrite redirects inside one <Directory>, which
# httpd does not send through authz again; the app still gets plaintext
# and its reply still goes out encrypted.
{
    my ($url, $body, $seen) = safe_post(path => '/front/entry', token => 'FrontTok3n',
                                        id => 'wxfront0123456789a');
    $res = check(name => 'front controller', method => 'POST', url => $url,
                 body => $body, status => 200, note => 'ok');
    my $reply = open_reply($res, name => 'front controller', token => 'FrontTok3n',
                           key => $key{cur}, id => 'wxfront0123456789a', env => 'xml');
    my $php = eval { JSON::PP->new->decode($reply) } // {};
    is(decode_base64($php->{body} // ''), $plain_xml,
       'front controller: the app behind the redirect got the plaintext');
}

# httpd's own LimitRequestBody answers, once.
{
    my ($url, $body) = safe_post(path => '/php/limit.php');
    my $before = scalar @{ $fpm->fpm_hits };
    my $resp = raw_post($url, 'Content-Length: ' . length($body) . "\r\n", $body);
    like($resp, qr{^HTTP/1\.1 413 }, 'LimitRequestBody under the guard: 413');
    my @status_lines = $resp =~ m{(HTTP/1\.1 \d{3} )}g;
    is(scalar @status_lines, 1, 'LimitRequestBody: one response, not two');
    is(scalar @{ $fpm->fpm_hits }, $before, 'LimitRequestBody: PHP ran nothing');
}

# The guard refuses, Require ip grants: the body arrives as it was sent.
{
    my ($url, $body) = safe_post(path => '/safe-any', tamper => $flip);
    $res = check(name => 'RequireAny, guard refuses, ip grants', method => 'POST',
                 url => $url, body => $body, status => 200, note => 'bad-signature');
    is($app->hits->[-1]{body}, $body, 'RequireAny: the app got the body as sent');
    is($app->hits->[-1]{headers}{'content-length'}, length $body,
       'RequireAny: with its own Content-Length');
}

# WX_PLAIN_BODY and WX_ENCRYPT_REPLY named by SetInputFilter and
# SetOutputFilter: they step aside.
{
    my $body = "plain body\n";
    $res = check(name => 'our filters named in the configuration', method => 'POST',
                 url => '/filters-by-name', body => $body, status => 200, note => '-');
    is($res->content, 'backend-ok', 'filters by name: the reply as the app sent it');
    is($app->hits->[-1]{body}, $body, 'filters by name: the body as sent');
}

# The PHP app of the README recipe, unchanged from plain mode.
{
    my ($url, $body, $seen) = safe_post(path => '/php/safe.php', token => 'PhpSafeTok3n',
                                        id => 'wxphp0123456789abc', lib => 'wecom');
    $res = check(name => 'PHP, OA safe mode', method => 'POST', url => $url,
                 body => $body, status => 200, note => 'ok');
    my $reply = open_reply($res, name => 'PHP', token => 'PhpSafeTok3n',
                           key => $key{cur}, id => 'wxphp0123456789abc', env => 'xml');
    my $seen_by_php = eval { JSON::PP->new->decode($reply) } // {};
    is($seen_by_php->{method}, 'POST', 'PHP: a POST');
    is($seen_by_php->{query}, $seen, 'PHP: QUERY_STRING without encrypt_type, msg_signature');
    ok(!exists $seen_by_php->{get}{msg_signature} && !exists $seen_by_php->{get}{encrypt_type},
       'PHP: $_GET has neither');
    is(decode_base64($seen_by_php->{body} // ''), $plain_xml,
       'PHP: php://input is the plaintext, byte-exact');
}

# -- What an attacker tried: each a regression ---------------------------------

# A safe-mode POST's plain signature, timestamp and nonce, reused on a GET
# (and a HEAD) with a forged body: a body where keys are in effect needs
# msg_signature, whatever the method.
{
    my $forged = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>"
               . "<Content><![CDATA[forged]]></Content></xml>";
    for my $target (['/safe', 'the proxied app'], ['/php/safe.php', 'PHP']) {
        my ($path, $who) = @$target;
        my ($url, undef, $seen) = safe_post(path => $path,
            token => $path eq '/safe' ? 'SafeTok3n' : 'PhpSafeTok3n',
            id => $path eq '/safe' ? $appid : 'wxphp0123456789abc');
        my $plain_url = "$path?$seen";
        for my $method (qw(GET HEAD)) {
            my $before = n_hits();
            my $fpm_before = scalar @{ $fpm->fpm_hits };
            check(name => "$method with a forged body to $who", method => $method,
                  raw => $method eq 'HEAD',
                  url => $plain_url, body => $forged, status => 403,
                  note => 'malformed',
                  why => 'msg_signature missing, and a WxEncodingAESKey is in effect');
            is(n_hits(), $before, "$method with a forged body to $who: the app saw nothing");
            is(scalar @{ $fpm->fpm_hits }, $fpm_before,
               "$method with a forged body to $who: php-fpm ran nothing");
        }
    }
    # A genuine envelope sent by GET verifies and decrypts: then the
    # handler, which answers verification GETs only, refuses the body (it
    # would otherwise echo a decrypted message).
    my ($url, $body) = safe_post(path => '/safe');
    my $before = n_hits();
    $res = check(name => 'a genuine envelope by GET', method => 'GET', url => $url,
                 body => $body, status => 400, note => 'malformed',
                 why => 'a verification GET has a body');
    unlike($res->content, qr/ToUserName|gh_1/, 'a genuine envelope by GET: no plaintext echoed');
    is(n_hits(), $before, 'a genuine envelope by GET: the app saw nothing');
}

# The guard on <Files index.php>, a POST to the directory: judged on the
# POST's body, not on mod_dir's bodiless GET look-up.
{
    my %dir = (path => '/dirindex/', token => 'DirTok3n', id => 'wxdir01234567890ab');
    my ($url, $body, $seen) = safe_post(%dir, lib => 'wecom');
    my $fpm_before = scalar @{ $fpm->fpm_hits };
    $res = check(name => 'DirectoryIndex, a genuine safe-mode POST', method => 'POST',
                 url => $url, body => $body, status => 200, note => 'ok',
                 logpath => '/dirindex/index.php');
    my $reply = open_reply($res, name => 'DirectoryIndex', token => 'DirTok3n',
                           key => $key{cur}, id => 'wxdir01234567890ab', env => 'xml');
    my $php = eval { JSON::PP->new->decode($reply) } // {};
    is(decode_base64($php->{body} // ''), $plain_xml,
       'DirectoryIndex: index.php read the plaintext');
    is($php->{query}, $seen, 'DirectoryIndex: the query without msg_signature');
    is(scalar @{ $fpm->fpm_hits }, $fpm_before + 1, 'DirectoryIndex: PHP ran once');

    my (undef, undef, $seen2) = safe_post(%dir);
    $fpm_before = scalar @{ $fpm->fpm_hits };
    check(name => 'DirectoryIndex, a forged POST under a plain signature',
          method => 'POST', url => "/dirindex/?$seen2",
          body => '<xml><Content>forged</Content></xml>', status => 403,
          note => 'malformed', whypath => '/dirindex/index.php',
          why => 'msg_signature missing, and a WxEncodingAESKey is in effect');
    is(scalar @{ $fpm->fpm_hits }, $fpm_before, 'DirectoryIndex, forged: PHP ran nothing');
    ($url, $body) = safe_post(%dir, tamper => $flip);
    check(name => 'DirectoryIndex, a tampered Encrypt', method => 'POST', url => $url,
          body => $body, status => 403, note => 'bad-signature',
          whypath => '/dirindex/index.php',
          why => 'msg_signature does not match the token (WxToken)');
    is(scalar @{ $fpm->fpm_hits }, $fpm_before, 'DirectoryIndex, tampered: PHP ran nothing');
}

# The same under <RequireAny> with Require ip: the refused body reaches
# index.php as sent; and a body over the limit gets our 413 page, not
# httpd's (which repeats the method), though mod_dir answers for the
# subrequest.
{
    my $body = '<xml><Content>not signed</Content></xml>';
    my $fpm_before = scalar @{ $fpm->fpm_hits };
    $res = check(name => 'DirectoryIndex, RequireAny, a refused body', method => 'POST',
                 url => '/dirindex-any/?signature=' . ('0' x 40) . '&timestamp=1&nonce=1',
                 body => $body, status => 200, note => 'malformed',
                 logpath => '/dirindex-any/index.php');
    my $php = eval { JSON::PP->new->decode($res->content) } // {};
    is(decode_base64($php->{body} // ''), $body,
       'DirectoryIndex, RequireAny: index.php read the body as sent');
    is(scalar @{ $fpm->fpm_hits }, $fpm_before + 1, 'DirectoryIndex, RequireAny: PHP ran once');
    my ($url) = safe_post(path => '/dirindex/', token => 'DirTok3n', id => 'wxdir01234567890ab');
    my $big = '<xml><Encrypt>' . ('A' x 270000) . '</Encrypt></xml>';
    my $req = HTTP::Request->new(POST => Apache::TestRequest::resolve_url($url));
    $req->content($big);
    $req->header('Content-Type' => 'text/xml', 'Content-Length' => length $big);
    $res = $ua->request($req);
    is($res->code, 413, 'DirectoryIndex, over the body limit: 413');
    unlike($res->content, qr/POST/, 'DirectoryIndex, over the body limit: our page, no method');
}

# msg_signature where no key is in effect: verified first (it needs only
# the token), so only a request that verified is a 500, and an error.
{
    my $ts = time;
    my $echo = 'P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp';
    my $echo_raw = 'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp';
    my $good = sign('WeComTok3n', $ts, 'n1', $echo_raw);
    my $lm = log_mark();
    check(name => 'handler, no key, msg_signature empty',
          url => "/wecom-nokey?msg_signature=&timestamp=$ts&nonce=n1&echostr=$echo",
          status => 400, note => 'malformed');
    check(name => 'handler, no key, msg_signature forged',
          url => "/wecom-nokey?msg_signature=" . ('0' x 40) . "&timestamp=$ts&nonce=n1&echostr=$echo",
          status => 403, note => 'bad-signature',
          why => 'msg_signature does not match the token (WxToken)');
    is(scalar(grep { !/\[wx_valid:(info|debug|trace\d)\]/ } wx_lines_since($lm)), 0,
       'handler, no key, unsigned: nothing of ours above info');
    check(name => 'handler, no key, msg_signature verified',
          url => "/wecom-nokey?msg_signature=$good&timestamp=$ts&nonce=n1&echostr=$echo",
          status => 500, note => 'no-key', level => 'error',
          why => 'msg_signature verified, but no WxEncodingAESKey is in effect to decrypt');

    my $enc = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
    my $xml = "<xml><Encrypt><![CDATA[$enc]]></Encrypt></xml>";
    my $before = n_hits();
    $lm = log_mark();
    for my $c (['empty', '', 403, 'malformed'], ['forged', '1' x 40, 403, 'bad-signature']) {
        check(name => "guard, no key, msg_signature $c->[0]", method => 'POST',
              url => "/nokey-guard?msg_signature=$c->[1]&timestamp=$ts&nonce=n2",
              body => $xml, status => $c->[2], note => $c->[3]);
    }
    is(scalar(grep { !/\[wx_valid:(info|debug|trace\d)\]/ } wx_lines_since($lm)), 0,
       'guard, no key, unsigned: nothing of ours above info');
    check(name => 'guard, no key, msg_signature verified', method => 'POST',
          url => "/nokey-guard?msg_signature=" . sign('NoKeyTok3n', $ts, 'n3', $enc)
               . "&timestamp=$ts&nonce=n3",
          body => $xml, status => 500, note => 'no-key', level => 'error',
          why => 'msg_signature verified, but no WxEncodingAESKey is in effect to decrypt');
    is(n_hits(), $before, 'guard, no key: the app saw nothing');

    # Require wx-signature before Require ip in <RequireAny>: our refusal
    # is a denial, and the trusted client's grant stands.
    for my $c (['empty', ''], ['forged', '2' x 40]) {
        $before = n_hits();
        check(name => "RequireAny, no key, msg_signature $c->[0]", method => 'POST',
              url => "/nokey-any?msg_signature=$c->[1]&timestamp=$ts&nonce=n4",
              body => $xml, status => 200,
              note => $c->[1] eq '' ? 'malformed' : 'bad-signature');
        is(n_hits(), $before + 1, "RequireAny, no key, $c->[0]: the trusted client got through");
    }
}

# Content-Encoding: a body that is still encoded is not WeChat's (refused);
# the plaintext the app gets never carries one.
{
    my ($url, $body) = safe_post(path => '/safe');
    my $before = n_hits();
    my $lm = log_mark();
    my $req = HTTP::Request->new(POST => Apache::TestRequest::resolve_url($url));
    $req->content($body);
    $req->header('Content-Type' => 'text/xml', 'Content-Encoding' => 'gzip',
                 'Content-Length' => length $body);
    $res = $ua->request($req);
    is($res->code, 403, 'Content-Encoding: gzip on an uncompressed envelope: 403');
    like(wx_line($lm, 'info'),
         qr/malformed: the request body is compressed \(Content-Encoding\), which WeChat never does/,
         'Content-Encoding: gzip: logs why');
    is(n_hits(), $before, 'Content-Encoding: gzip: the app saw nothing');

    ($url, $body) = safe_post(path => '/safe');
    $req = HTTP::Request->new(POST => Apache::TestRequest::resolve_url($url));
    $req->content($body);
    $req->header('Content-Type' => 'text/xml', 'Content-Encoding' => 'identity',
                 'Content-Length' => length $body);
    $res = $ua->request($req);
    is($res->code, 200, 'Content-Encoding: identity: 200');
    ok(!exists $app->hits->[-1]{headers}{'content-encoding'},
       'Content-Encoding: identity: not forwarded with the plaintext');
    is($app->hits->[-1]{body}, $plain_xml, 'Content-Encoding: identity: the plaintext');
}

# The 413 page (and the 405 page) carry nothing of the request.
{
    my ($url) = safe_post(path => '/safe');
    my $big = '<xml><Encrypt>' . ('A' x 270000) . '</Encrypt></xml>';
    for my $method (qw(POST PUT)) {
        my $req = HTTP::Request->new($method => Apache::TestRequest::resolve_url($url));
        $req->content($big);
        $req->header('Content-Type' => 'text/xml', 'Content-Length' => length $big);
        $res = $ua->request($req);
        is($res->code, 413, "$method over the body limit: 413");
        unlike($res->content, qr/\Q$method\E/, "$method over the body limit: the page has no method");
        unlike($res->content, qr/msg_signature|safe/, "$method over the body limit: nor the URL");
    }
    $res = $ua->request(HTTP::Request->new(DELETE => Apache::TestRequest::resolve_url('/wecom?a=b')));
    is($res->code, 405, 'DELETE to the handler: 405');
    unlike($res->content, qr/DELETE|wecom/, 'DELETE to the handler: the page has no method, no URL');
}

$app->stop;
$fpm->stop;
done_testing();
