# SPDX-License-Identifier: Apache-2.0
package WxOracle;
# Independent WeChat/WeCom crypto for the tests: t/oracle/wx_oracle.js,
# which calls two npm packages, @wecom/crypto ("wecom", Tencent's) and
# wechat-crypto ("wechat", node-webot's WXBizMsgCrypt port).  Messages go
# in and come out as bytes (base64 on the way in, UTF-8 on the way out).
use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use File::Spec::Functions qw(catfile);
use File::Temp qw(tempfile);
use JSON::PP ();
use MIME::Base64 qw(encode_base64);

use Apache::Test ();

our @EXPORT = qw(oracle_encrypt oracle_decrypt oracle_sign);

my $json = JSON::PP->new->utf8->canonical;

# One batch of operations through t/oracle/$script (wx_oracle.js, or
# WeChat Pay's wxpay_oracle.js): the results, in order.
sub run_script {
    my ($script, @ops) = @_;
    my $js = catfile(Apache::Test::vars('top_dir'), 't', 'oracle', $script);
    my ($fh, $file) = tempfile(UNLINK => 1);
    print $fh $json->encode(\@ops);
    close $fh;
    my $out = `node '$js' < '$file'`;
    die "$script failed (exit $?)" if $?;
    return @{ $json->decode($out) };
}

sub _run { return run_script('wx_oracle.js', @_) }

# {encrypt, signature} for the bytes $a{msg}: lib, key, id, token,
# timestamp, nonce; random (16 bytes, wecom only) optional.
sub oracle_encrypt {
    my (%a) = @_;
    my $msg = delete $a{msg};
    my ($r) = _run({ op => 'encrypt', %a, msg_b64 => encode_base64($msg, '') });
    return $r;
}

# (message bytes, receiveid) of $a{encrypt} under $a{key}, by lib.
sub oracle_decrypt {
    my (%a) = @_;
    my ($r) = _run({ op => 'decrypt', %a });
    my $m = $r->{message};
    utf8::encode($m);
    return ($m, $r->{id});
}

# msg_signature over [token, timestamp, nonce, encrypt], by lib.
sub oracle_sign {
    my (%a) = @_;
    my ($r) = _run({ op => 'sign', %a });
    return $r->{signature};
}

1;
