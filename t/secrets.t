# SPDX-License-Identifier: Apache-2.0
# mod_info's /server-info (?config too) shows every directive with its
# arguments, ${ENV} already expanded: WxToken's, WxEncodingAESKey's and
# WxReplayCachePassword's are hidden, and the module still works with them.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use LWP::UserAgent;
use WxServer;
use WxTest;

plan skip_all => "no mod_info in this httpd"
    unless WxServer::have_module('info');
my $info = WxServer::load_lines('info');

$ENV{WX_SECRET_TEST_TOKEN} = 'EnvSecretTok3n';
my $key = 'SecretKey0123456789abcdefghijklmnopqrstuvwx';
my $s = WxServer->apache(name => 'info', conf => <<"CONF");
$info
WxReplayCache redis:127.0.0.1:1
WxReplayCachePassword RedisSecretPw9
<Location /server-info>
    SetHandler server-info
</Location>
<Location /wx>
    SetHandler wx-valid
    WxToken FileSecretTok3n \${WX_SECRET_TEST_TOKEN}
    WxEncodingAESKey $key
</Location>
CONF
my $ua = LWP::UserAgent->new(timeout => 10);
for my $page ('/server-info', '/server-info?config', '/server-info?mod_wx_valid.c') {
    my $res = $ua->get($s->base . $page);
    is($res->code, 200, "$page: 200");
    unlike($res->content, qr/FileSecretTok3n|EnvSecretTok3n|SecretKey0123|RedisSecretPw9/,
           "$page: no token, no key, no store password");
}
like($ua->get($s->base . '/server-info?config')->content,
     qr/WxToken.{0,40}\(hidden by mod_wx_valid\)/s,
     'server-info?config: WxToken shown as hidden');
my $res = $ua->get($s->base . '/wx?' . signed_query(token => 'EnvSecretTok3n',
                                                    echostr => 'still'));
is($res->content, 'still', 'the hidden token still signs');
$s->stop;
done_testing();
