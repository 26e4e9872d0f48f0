# SPDX-License-Identifier: Apache-2.0
package WxPay;
# WeChat Pay notifications for the tests, made the way WeChat Pay makes
# them by an independent implementation: t/oracle/wxpay_oracle.js (the npm
# package wechatpay-axios-plugin) signs with the test keys of t/pay/ and
# seals the resource with AES-256-GCM.  Nothing here is the module's code.
use strict;
use warnings FATAL => 'all';

use Encode ();
use Exporter 'import';
use File::Spec::Functions qw(catfile);
use JSON::PP ();

use Apache::Test ();
use WxOracle ();

our @EXPORT = qw(oracle notice);

my $top = Apache::Test::vars('top_dir');
our $KEYS   = catfile($top, 't', 'pay');
our $SERIAL = '5157F09EFDC096DE15EBE81A47057A7232F1B8E1';   # platform.pem
our $OTHER  = '0A1B2C3D4E5F60718293A4B5C6D7E8F901234567';   # other.pem
our $PUBID  = 'PUB_KEY_ID_0114232806052025032500000000000000';  # pubkey.pem
our $APIV3  = 'a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb';   # WeChat Pay's V6 vector's
our $NEWV3  = 'NewApiV3Key0123456789abcdefghijk';
my $json = JSON::PP->new->utf8->canonical;

sub oracle { return WxOracle::run_script('wxpay_oracle.js', @_) }

# What the resource decrypts to (a transaction, as WeChat Pay's docs
# show), as UTF-8 bytes.
our $RESOURCE = $json->encode({
    mchid => '1230000109', appid => 'wxd678efh567hg6787',
    out_trade_no => "wxv\x{4e2d}-20260101", transaction_id => '4200000001',
    trade_state => 'SUCCESS', amount => { total => 100, currency => 'CNY' },
});

# A notification: {body (UTF-8 bytes, as WeChat Pay sends it), headers
# (name => value pairs), id, signature, timestamp, nonce}.  Options: id,
# key and serial (the signer), apiv3, plaintext, algorithm, ciphertext,
# body, signature, timestamp, nonce.
sub notice {
    my (%o) = @_;
    my $nonce = $o{resource_nonce} // 'uluk4a9R25RW';
    my $aad   = $o{aad} // 'transaction';
    my ($sealed) = oracle({ op => 'seal', apiv3 => $o{apiv3} // $APIV3,
                            nonce => $nonce, aad => $aad,
                            plaintext => Encode::decode('UTF-8', $o{plaintext} // $RESOURCE) });
    my $id = $o{id} // 'EV-' . int(rand 1e12);
    my $body = $o{body} // $json->encode({
        id => $id, create_time => '2026-12-02T10:00:00+08:00',
        resource_type => 'encrypt-resource',
        event_type => 'TRANSACTION.SUCCESS', summary => "\x{652f}\x{4ed8}",
        resource => { original_type => 'transaction',
                      algorithm => $o{algorithm} // 'AEAD_AES_256_GCM',
                      ciphertext => $o{ciphertext} // $sealed->{ciphertext},
                      associated_data => $aad, nonce => $nonce },
    });
    my $ts = $o{timestamp} // time;
    my $hn = $o{nonce} // 'n' . int(rand 1e9);
    # (The oracle takes the body as text; what is signed is its UTF-8.)
    my $text = utf8::is_utf8($body) ? $body : Encode::decode('UTF-8', $body);
    my ($sig) = oracle({ op => 'sign', key => "$KEYS/" . ($o{key} // 'platform') . '.key',
                         timestamp => "$ts", nonce => $hn, body => $text });
    my @h = ('Wechatpay-Timestamp' => $ts, 'Wechatpay-Nonce' => $hn,
             'Wechatpay-Signature' => $o{signature} // $sig->{signature},
             'Wechatpay-Serial' => $o{serial} // $SERIAL,
             'Wechatpay-Signature-Type' => 'WECHATPAY2-SHA256-RSA2048');
    utf8::encode($body) if utf8::is_utf8($body);
    return { body => $o{sent_body} // $body, headers => \@h, id => $id,
             signature => $sig->{signature}, timestamp => $ts, nonce => $hn };
}

1;
