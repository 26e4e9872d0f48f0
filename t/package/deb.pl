#!/usr/bin/env perl
# SPDX-License-Identifier: Apache-2.0
# The Debian package, end to end (make package-test; make test runs it when
# the build tools are present, CI always):
#
#   build it (tools/deb: dpkg-buildpackage in a clean copy), check its
#   files, control fields, conffiles and hardening, run lintian (no errors,
#   no warnings); then, as root, in a throwaway root: dpkg -i (enabled by
#   its postinst), a2dismod, an upgrade that keeps it off, a2enmod
#   wx_valid, a <Location> with the module, apache2ctl configtest, start
#   the system Apache, a signed verification GET gets its echostr back, a
#   forged one a 403 logged by the packaged wx_valid.conf's LogLevel; stop,
#   dpkg --remove (conffiles kept), dpkg --purge, and nothing of the
#   package is left.
#
# The throwaway root is an overlay of this machine's own / (the lower layer,
# read-only) in private mount, network and PID namespaces: the install
# writes only to the overlay's upper layer, the Apache listens on port 80
# of its own loopback (and, its PID 1 not being systemd, apache2ctl starts
# it directly), and everything is gone when the namespaces end.  Where the
# overlay cannot be made (a container without CAP_SYS_ADMIN) and
# WX_PACKAGE_TEST=required (CI), the package is installed on this machine
# and purged again, as tools/install-check does with make install.
#
#   WX_PACKAGE_TEST=required   missing tools, or not root, fail instead of skip
#   WX_PACKAGE_ROOT=system     install on this machine, not in an overlay
#                              (it must have no Apache running)
#   WX_KEEP_ROOT=1             keep the overlay's upper layer to look at
use strict;
use warnings;
use FindBin;
use File::Find;
use File::Temp qw(tempdir);
use File::Path qw(remove_tree);
use POSIX qw(WNOHANG _exit);
use Test::More;

use lib "$FindBin::Bin/../lib";
use WxServer ();    # poll, stop_pid: waits that end

chdir "$FindBin::Bin/../.." or die "chdir: $!";
my $required = ($ENV{WX_PACKAGE_TEST} // '') eq 'required';
my $PATH     = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
local $ENV{PATH} = "$PATH:$ENV{PATH}";

sub which {
    my ($tool) = @_;
    return grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}

# Run a command; its exit code and its stdout and stderr together.  One
# that has not ended in 15 minutes (the build and lintian take one or
# two) is stopped: 124, and its output so far.
sub run {
    my @cmd = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        # A child that cannot exec must not run this test's END.
        open(STDERR, '>&', \*STDOUT) && open(STDIN, '<', '/dev/null')
            && exec @cmd;
        _exit(127);
    }
    my $out = '';
    my $ended = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 900;
        while (1) {
            my $n = sysread $fh, $out, 65536, length $out;
            last if defined $n ? !$n : !$!{EINTR};
        }
        alarm 0;
        1;
    };
    alarm 0;
    if (!$ended) {
        die $@ unless $@ eq "timeout\n";
        WxServer::stop_pid(what => "@cmd", pid => $pid);
        close $fh;
        return (124, "$out\n@cmd: not ended after 900 s, stopped");
    }
    close $fh;
    return ($? >> 8, $out);
}

# A whole file; undef if it cannot be read.
sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return undef;
    local $/;
    return scalar <$fh>;
}

# $cond, every 50 ms for $secs s at most, until it is true.
sub poll { return WxServer::poll(@_) }

sub skip_or_fail {
    my ($why) = @_;
    if ($required) {
        fail("WX_PACKAGE_TEST=required, but $why");
        done_testing();
        exit 1;
    }
    plan skip_all => $why;
}

my @missing = grep { !which($_) }
    qw(dpkg-buildpackage dh dh_apache2 lintian readelf curl);
skip_or_fail("no @missing: tools/deps installs dpkg-dev, debhelper, lintian"
             . " as root") if @missing;

chomp(my $version = slurp('VERSION') // die "VERSION: $!");
my $arch = (run('dpkg-architecture', '-qDEB_HOST_ARCH'))[1];
chomp $arch;
my $pkg  = 'libapache2-mod-wx-valid';

# --- the build ------------------------------------------------------------
my ($rc, $out) = run('tools/deb');
is($rc, 0, 'make deb: dpkg-buildpackage -us -uc -b in a clean copy')
    or BAIL_OUT("the package did not build:\n$out");
my $deb = (split /\n/, $out)[-1];
like($deb, qr{/build/deb/\Q${pkg}_${version}_${arch}\E\.deb$},
     "the package is ${pkg}_${version}_${arch}.deb: its version is VERSION");
(my $changes = $deb) =~ s{/\Q${pkg}\E_\Q$version\E_(\w+)\.deb$}
                        {/mod-wx-valid_${version}_$1.changes};
ok(-f $changes, 'and dpkg-buildpackage wrote its .changes');

# debian/rules refuses to build a version that is not VERSION.
{
    my $d = tempdir('wx-deb-v.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    run('cp', '-a', 'debian', "$d/");
    open my $v, '>', "$d/VERSION" or die;
    print $v "9.9.9\n";
    close $v;
    my ($rc, $out) = run('make', '-s', '-n', '-C', $d, '-f', 'debian/rules',
                         'override_dh_auto_build');
    isnt($rc, 0, 'debian/rules refuses a VERSION the changelog does not have');
    like($out, qr/debian\/changelog is at \Q$version\E but VERSION says 9\.9\.9: dch -v 9\.9\.9/,
         'and says why');
}

# --- its files --------------------------------------------------------------
($rc, $out) = run('dpkg-deb', '-c', $deb);
my @files = sort map { my @f = split ' ', $_; $f[0] =~ /^d/ ? () : "$f[0] $f[1] $f[-1]" }
    split /\n/, $out;
my $doc = "./usr/share/doc/$pkg";
is_deeply(\@files, [sort map { "-rw-r--r-- root/root $_" }
        './etc/apache2/mods-available/wx_valid.conf',
        './etc/apache2/mods-available/wx_valid.load',
        './usr/lib/apache2/modules/mod_wx_valid.so',
        "$doc/README.md.gz", "$doc/changelog.gz", "$doc/copyright"],
    'the files: the module, its .load and .conf, README, changelog, copyright')
    or diag $out;

my %field;
for my $f (qw(Package Version Architecture Depends Section)) {
    ($rc, $out) = run('dpkg-deb', '-f', $deb, $f);
    chomp($field{$f} = $out);
}
is($field{Package}, $pkg, 'Package');
is($field{Version}, $version, 'Version is VERSION');
is($field{Architecture}, $arch, 'Architecture');
is($field{Section}, 'httpd', 'Section');
like($field{Depends}, qr/(?:^|, )apache2-api-\d{8}(?:,|$)/,
     "Depends on Apache's module ABI (dh_apache2's \${misc:Depends})");
like($field{Depends}, qr/(?:^|, )libjansson4 \(>= [^)]+\)/,
     "Depends on libjansson4 (dpkg-shlibdeps's \${shlibs:Depends})");
like($field{Depends}, qr/(?:^|, )libexpat1 \(>= [^)]+\)/,
     "Depends on libexpat1 (dpkg-shlibdeps's \${shlibs:Depends})");
like($field{Depends}, qr/(?:^|, )libhiredis0\.14 \(>= [^)]+\)/,
     "Depends on libhiredis0.14 (dpkg-shlibdeps's \${shlibs:Depends})");
like($field{Depends}, qr/(?:^|, )libssl3 \(>= [^)]+\)/,
     "Depends on libssl3 (dpkg-shlibdeps's \${shlibs:Depends}: WeChat Pay's EVP)");
like($field{Depends}, qr/(?:^|, )apache2-bin \(>= 2\.4\.46\)(?:,|$)/,
     'Depends on an httpd with ap_parse_strict_length (2.4.46)');
unlike($field{Depends}, qr/(?:^|, )apache2(?: |,|$)/,
       'does not depend on apache2 itself');

($rc, $out) = run('dpkg-deb', '-I', $deb, 'conffiles');
is(join("\n", sort split /\n/, $out),
   "/etc/apache2/mods-available/wx_valid.conf\n"
   . "/etc/apache2/mods-available/wx_valid.load",
   'conffiles: the .load and the .conf');

my $x = tempdir('wx-deb-x.XXXXXX', TMPDIR => 1, CLEANUP => 1);
($rc, $out) = run('dpkg-deb', '-x', $deb, $x);
is($rc, 0, 'dpkg-deb -x') or diag $out;
for my $f (qw(wx_valid.load wx_valid.conf)) {
    is(slurp("$x/etc/apache2/mods-available/$f"), slurp("conf/$f"),
       "mods-available/$f is conf/$f as it is in the tree");
}
like(slurp("$x/etc/apache2/mods-available/wx_valid.load"),
     qr{\A# Depends: authz_core\nLoadModule wx_valid_module /usr/lib/apache2/modules/mod_wx_valid\.so\n\z},
     'wx_valid.load: "# Depends:" for a2enmod, LoadModule from the module directory');
# Debian's apxs has most hardening flags already; that dpkg-buildflags'
# reach apxs through debian/rules shows in the build log: the
# -ffile-prefix-map that only they carry.
my $log = slurp('build/deb/build.log') // '';
like($log, qr{^\S*apxs -c (?=.* -Wc,-ffile-prefix-map=\S+ )(?=.* -Wc,-D_FORTIFY_SOURCE=\d )(?=.* -Wl,-Wl,-z,now ).*mod_wx_valid\.c}m,
     "debian/rules hands dpkg-buildflags' CPPFLAGS, CFLAGS, LDFLAGS to apxs");
my $so = "$x/usr/lib/apache2/modules/mod_wx_valid.so";
($rc, $out) = run('readelf', '-d', '-l', '-W', $so);
like($out, qr/\(NEEDED\)\s+Shared library: \[libjansson\.so\.4\]/,
     'the module links libjansson.so.4');
like($out, qr/\(FLAGS\)\s+BIND_NOW/, 'hardening: BIND_NOW');
like($out, qr/GNU_RELRO/, 'hardening: RELRO');
($rc, $out) = run('readelf', '--dyn-syms', '-W', $so);
# -D_FORTIFY_SOURCE reaching the compiler is proven by the build log
# above; whether any call gets a __*_chk twin depends on the code (none
# does since the core copies nothing of unknown length into a fixed
# buffer), so the binary is checked for the stack protector.
like($out, qr/\b__stack_chk_fail\b/, 'hardening: stack protector (-fstack-protector-strong)');
my $image = slurp($so) // '';
ok(index($image, "mod_wx_valid/$version\0") >= 0,
   "the module carries mod_wx_valid/$version for the server signature");

# --- lintian ------------------------------------------------------------------
($rc, $out) = run('lintian', '--pedantic', '--display-info', $changes);
my @tags = grep { /^[EWIP]: / } split /\n/, $out;
my @bad  = grep { /^[EW]: / } @tags;
is($rc, 0, 'lintian passes');
is(scalar @bad, 0, 'lintian: no errors, no warnings') or diag join "\n", @bad;
diag "lintian (info, pedantic): $_" for grep { /^[IP]: / } @tags;

# --- installed, in a throwaway root -------------------------------------------
# Cleanup is in END; a signal (Ctrl-C, a CI timeout) must run it too.
$SIG{$_} = sub { exit 1 } for qw(INT TERM HUP);

# The .deb as the root sees it: copied into the overlay's own /tmp (a
# tmpfs, which hides this machine's /tmp, where the checkout may be).
my $root_deb = "/tmp/${pkg}_${version}_${arch}.deb";
my ($root, $ns_pid, $ns_init, $ns_hold, $tmp, @in);
my $why_not = '';
my $mode = $> != 0 ? undef
         : ($ENV{WX_PACKAGE_ROOT} // '') eq 'system' ? 'system'
         : overlay() ? 'overlay' : $required ? 'system' : undef;
if (!$mode) {
    my $why = $> != 0 ? 'installing the package needs root'
            : "no throwaway root here ($why_not), and installing on this"
              . ' machine itself needs WX_PACKAGE_TEST=required (CI)';
    if ($required) {
        fail("WX_PACKAGE_TEST=required, but $why");
    }
    else {
        SKIP: { skip($why, 1) }
    }
    done_testing();
    exit;
}
pass('installing into ' . ($mode eq 'overlay' ? "an overlay root, $tmp"
                           : 'this machine'));
diag("no overlay root ($why_not): installing on this machine")
    if $mode eq 'system' && $why_not;
$root_deb = $deb if $mode eq 'system';

# An overlay of / in new mount, network and PID namespaces.  Their init
# (PID 1) is a cat reading a pipe this test holds: when the test ends, by
# any means, the pipe closes, init exits, and the kernel kills whatever
# still runs in there (the Apache) and drops the mounts.  Each step enters
# the namespaces (nsenter) and chroots.
sub overlay {
    if (my @need = grep { !which($_) } qw(unshare nsenter chroot ip)) {
        $why_not = "no @need";
        return 0;
    }
    # overlayfs does not cross mounts: what a root needs must be on /'s.
    my $dev = (stat '/')[0];
    if (my @apart = grep { -d $_ && (stat $_)[0] != $dev }
            qw(/etc /usr /var /var/lib /var/lib/dpkg /usr/lib/apache2)) {
        $why_not = "@apart on a filesystem of its own";
        return 0;
    }
    $tmp = tempdir('/tmp/wx-package-root.XXXXXX');
    mkdir "$tmp/$_" or die for qw(upper work root);
    $root = "$tmp/root";
    my $script = <<"SH";
set -e
mount -t overlay overlay -o lowerdir=/,upperdir=$tmp/upper,workdir=$tmp/work $root
mount -t proc proc $root/proc
mount --rbind /dev $root/dev
mount -t tmpfs tmpfs $root/run
mkdir -m 1777 $root/run/lock
mount -t tmpfs tmpfs $root/tmp
cp "$deb" "$root$root_deb"
ip link set lo up
touch $tmp/ready
exec cat >/dev/null
SH
    pipe(my $ns_read, $ns_hold) or die "pipe: $!";
    $ns_pid = fork // die "fork: $!";
    if (!$ns_pid) {
        close $ns_hold;
        open(STDIN, '<&', $ns_read) && open(STDOUT, '>', "$tmp/ns.log")
            && open(STDERR, '>&', \*STDOUT)
            && exec 'unshare', '--mount', '--net', '--pid', '--fork',
                    '--propagation', 'private', 'sh', '-c', $script;
        _exit(127);
    }
    close $ns_read;
    my $init;
    poll(10, sub {
        return 1 if waitpid($ns_pid, WNOHANG) == $ns_pid;
        return 0 unless -e "$tmp/ready";
        # unshare --fork's child: PID 1 inside.
        ($init) = (slurp("/proc/$ns_pid/task/$ns_pid/children") // '')
            =~ /(\d+)/;
        return $init;
    });
    if (!$init) {
        $why_not = slurp("$tmp/ns.log") // '';
        $why_not =~ s/\s+$//;
        $why_not ||= 'the namespaces did not come up in 10 s';
        teardown();
        remove_tree($tmp);
        ($tmp, $root) = ();
        return 0;
    }
    $ns_init = $init;
    @in = ('nsenter', '-t', $init, '-m', '-n', '-p', '--', 'chroot', $root);
    return 1;
}

# The namespaces' end: their init reads EOF and exits, and with it all;
# or, 5 s on, it and unshare are killed (and reaped, 10 s at most).
sub teardown {
    return unless $ns_pid;
    close $ns_hold;
    if (!poll(5, sub { !WxServer::alive($ns_pid) })) {
        diag("the namespaces' init (pid " . ($ns_init // '?')
             . ") has not ended 5 s after its pipe closed: SIGKILL");
        kill 'KILL', grep { $_ } $ns_init, $ns_pid;
        poll(10, sub { !WxServer::alive($ns_pid) })
            or diag("unshare (pid $ns_pid) is still there 10 s after SIGKILL");
    }
    ($ns_pid, $ns_init) = ();
}

# A command in the root: a clean environment, as an admin's shell has.
sub in_root { return run(@in, 'env', '-i', "PATH=$PATH", 'LANG=C', @_) }
sub exists_in_root { return (in_root('test', '-e', $_[0]))[0] == 0 }
sub write_in_root {
    my ($path, $text) = @_;
    return in_root('sh', '-c', 'printf %s "$2" > "$1"', 'sh', $path, $text);
}

my @pkg_files = map { s{^\S+ \S+ \.}{}r } @files;
my $policy = '/usr/sbin/policy-rc.d';
my $made_policy;
my $conf = '/etc/apache2/conf-available/wx-package-test.conf';

END {
    # Whatever happened: the test's Apache stopped, the namespaces ended,
    # and on this machine (system mode) the package and our files gone.
    if ($mode && $mode eq 'system') {
        in_root('apache2ctl', '-k', 'stop');
        stop_root_apache();
        in_root('a2disconf', '-q', '-p', 'wx-package-test');
        unlink $conf;
        in_root('dpkg', '--purge', $pkg);
        unlink $policy if $made_policy;
    }
    teardown();
    remove_tree($tmp) if $tmp && !$ENV{WX_KEEP_ROOT};
}

# The Apache processes of this test: in the overlay, every apache2 in its
# PID namespace; on this machine, the one the pid file names, if it runs
# and is an apache2 (apache2ctl start returns before the server it
# detached writes that file: ask with poll).
sub root_apaches {
    if ($mode eq 'overlay') {
        # (by its command line: its name is "/usr/sbin/apach", cut to 15)
        my ($rc, $out) = in_root('ps', '-eo', 'pid=,args=');
        return map { m{^\s*(\d+) (?:\S*/)?apache2 } ? $1 : () } split /\n/, $out;
    }
    my $pid = WxServer::pidfile('/run/apache2/apache2.pid');
    return $pid && WxServer::alive($pid)
        && (slurp("/proc/$pid/cmdline") // '') =~ m{^(?:\S*/)?apache2\0}
        ? ($pid) : ();
}
# After apache2ctl stop: gone within 15 s.  On this machine, one still
# there then is killed (the overlay's go with its namespaces): false.
sub stop_root_apache {
    return 1 if poll(15, sub { !root_apaches() });
    if ($mode eq 'system') {
        my @pids = root_apaches();
        WxServer::stop_pid(what => 'the system Apache', pid => $_, secs => 5)
            for @pids;
    }
    return 0;
}

# Before: not installed, none of its files; on this machine, no Apache
# running (the test starts and stops the system Apache itself).
if ($mode eq 'system' && root_apaches()) {
    $mode = 'done';
    BAIL_OUT('the system Apache is running: stop it (apache2ctl stop) to'
             . ' test the package on this machine');
}
# Anything of it already there is left alone: the test stops.
($rc, $out) = in_root('dpkg-query', '-W', '-f', '${db:Status-Abbrev}', $pkg);
unlike($out, qr/^[a-z]i/, 'before: the package is not installed')
    or do { $mode = 'done'; BAIL_OUT("$pkg is installed here: dpkg --purge $pkg") };
is_deeply([grep { exists_in_root($_) } @pkg_files], [],
          'before: none of its files are there')
    or do { $mode = 'done';
            BAIL_OUT('a mod_wx_valid is already installed here (make install?);'
                     . ' tools/install-check shows how to take it out') };
# a2enmod's memory of an earlier wx_valid (a make install that a2dismod
# took out) would keep the postinst from enabling it: in a throwaway root
# it is cleared; on this machine it is a failure.
my @state = map { "/var/lib/apache2/module/$_/wx_valid" }
    qw(enabled_by_admin enabled_by_maint disabled_by_admin disabled_by_maint);
if (my @stale = grep { exists_in_root($_) } @state) {
    if ($mode eq 'overlay') {
        note("cleared in the throwaway root, left by an earlier a2dismod: @stale");
        in_root('rm', '-f', @stale);
    }
    else {
        BAIL_OUT("a2enmod state of an earlier wx_valid: @stale (a2dismod -p wx_valid)");
    }
}
# A chroot's usual guard: maintainer scripts must not start services.
if (!exists_in_root($policy)) {
    write_in_root($policy, "#!/bin/sh\nexit 101\n");
    in_root('chmod', '755', $policy);
    $made_policy = 1;
}

# dpkg -i; dh_apache2's postinst enables the module, as Debian's do.
($rc, $out) = in_root('dpkg', '-i', $root_deb);
is($rc, 0, 'dpkg -i') or diag $out;
($rc, $out) = in_root('dpkg-query', '-W', '-f', '${db:Status-Abbrev}${Version}',
                      $pkg);
is($out, "ii $version", "installed: $pkg $version");
if ($mode eq 'overlay') {
    ok(-f "$tmp/upper/usr/lib/apache2/modules/mod_wx_valid.so"
       && !-e '/usr/lib/apache2/modules/mod_wx_valid.so',
       'the module went to the throwaway root, not to this machine');
}
($rc, $out) = in_root('a2query', '-m', 'wx_valid');
is($out, "wx_valid (enabled by maintainer script)\n",
   'the postinst enabled it (a2query -m wx_valid)');
# An admin's a2dismod outlives an upgrade (here: the same .deb again);
# a2enmod brings it back.
($rc, $out) = in_root('a2dismod', 'wx_valid');
is($rc, 0, 'a2dismod wx_valid') or diag $out;
($rc, $out) = in_root('dpkg', '-i', $root_deb);
is($rc, 0, 'dpkg -i again (an upgrade)') or diag $out;
($rc, $out) = in_root('a2query', '-m', 'wx_valid');
is($out, "No module matches wx_valid (disabled by site administrator)\n",
   "the postinst kept the admin's a2dismod");
($rc, $out) = in_root('a2enmod', 'wx_valid');
is($rc, 0, 'a2enmod wx_valid') or diag $out;
like($out, qr/^Enabling module wx_valid\.$/m, 'a2enmod: enabling module wx_valid');
($rc, $out) = in_root('a2query', '-m', 'wx_valid');
is($out, "wx_valid (enabled by site administrator)\n", 'a2query: enabled');

# A <Location> as an admin writes it, in conf-available.
my $token = 'PackageTest1';
write_in_root($conf, <<"CONF");
# The package test's verification URL (t/package/deb.pl).
ServerTokens Full
<Location /wx-package-test>
    SetHandler wx-valid
    WxToken $token
</Location>
CONF
($rc, $out) = in_root('a2enconf', 'wx-package-test');
is($rc, 0, 'a2enconf wx-package-test') or diag $out;
($rc, $out) = in_root('apache2ctl', 'configtest');
is($rc, 0, 'apache2ctl configtest') or diag $out;
like($out, qr/^Syntax OK$/m, 'configtest: Syntax OK');

($rc, $out) = in_root('apache2ctl', 'start');
is($rc, 0, 'apache2ctl start: the system Apache, on its own port 80')
    or diag $out;

sub get {
    my ($query) = @_;
    my ($rc, $out);
    poll(5, sub {
        ($rc, $out) = in_root('curl', '-sS', '-i', '-m', '10',
            "http://127.0.0.1/wx-package-test?$query");
        return $rc != 7;    # 7: nothing listens yet
    });
    my ($head, $body) = split /\r\n\r\n/, $out, 2;
    my ($status) = ($head // '') =~ m{^HTTP/\S+ (\d+)};
    my ($server) = ($head // '') =~ m{^Server: ([^\r\n]*)}mi;
    return ($status // "curl $rc: $out", $server // '', $body // '');
}

ok(poll(10, sub { scalar root_apaches() }), 'its processes run');
my $echostr = 'package-ok-' . time;
($rc, $out) = run('tools/sign', $token, $echostr);
chomp(my $query = $out);
my ($status, $server, $body) = get($query);
is($status, 200, 'a signed verification GET: 200');
is($body, $echostr, 'and its echostr back, byte for byte');
like($server, qr{(?:^| )mod_wx_valid/\Q$version\E(?: |$)},
     "Server: names mod_wx_valid/$version (ServerTokens Full)");
(my $forged = $query) =~ s/signature=([0-9a-f])/'signature=' . ($1 eq '0' ? '1' : '0')/e;
# Only what this request adds to the log counts (it may hold older runs').
($rc, $out) = in_root('stat', '-c', '%s', '/var/log/apache2/error.log');
my ($log_size) = $out =~ /^(\d+)$/ or diag $out;
($status, $server, $body) = get($forged);
is($status, 403, 'a forged one: 403');
($rc, $out) = in_root('tail', '-c', '+' . (($log_size // 0) + 1),
                      '/var/log/apache2/error.log');
like($out, qr/\[wx_valid:info\] .* WXV00002: bad-signature: signature does not match the token \(WxToken\), for \/wx-package-test$/m,
     "logged at info, the packaged wx_valid.conf's LogLevel");

($rc, $out) = in_root('apache2ctl', 'stop');
is($rc, 0, 'apache2ctl stop') or diag $out;
ok(stop_root_apache(), 'the Apache stopped');

# Our own conf out; the package removed: disabled, its conffiles kept.
in_root('a2disconf', '-q', '-p', 'wx-package-test');
in_root('rm', '-f', $conf);
($rc, $out) = in_root('dpkg', '--remove', $pkg);
is($rc, 0, 'dpkg --remove') or diag $out;
is_deeply([map { exists_in_root($_) ? 1 : 0 }
           '/etc/apache2/mods-enabled/wx_valid.load',
           '/usr/lib/apache2/modules/mod_wx_valid.so',
           '/etc/apache2/mods-available/wx_valid.load',
           '/etc/apache2/mods-available/wx_valid.conf'], [0, 0, 1, 1],
          'removed: disabled, the module gone, the conffiles kept');
($rc, $out) = in_root('dpkg-query', '-W', '-f', '${db:Status-Abbrev}', $pkg);
like($out, qr/^rc/, 'removed: dpkg says rc (config files remain)');
($rc, $out) = in_root('apache2ctl', 'configtest');
is($rc, 0, 'removed: apache2ctl configtest passes') or diag $out;

# Then purged: nothing of it may remain.
($rc, $out) = in_root('dpkg', '--purge', $pkg);
is($rc, 0, 'dpkg --purge') or diag $out;
($rc, $out) = in_root('dpkg-query', '-W', '-f', '${db:Status-Abbrev}', $pkg);
unlike($out, qr/^[ir]i/, 'after: not installed');
is_deeply([grep { exists_in_root($_) } @pkg_files,
           '/etc/apache2/mods-enabled/wx_valid.load',
           '/etc/apache2/mods-enabled/wx_valid.conf',
           @state,
           "/var/lib/dpkg/info/$pkg.list", "/var/lib/dpkg/info/$pkg.md5sums",
           "/usr/share/doc/$pkg"], [],
          'after purge: no file, link, a2enmod state or dpkg record of it');
($rc, $out) = in_root('grep', '-rl', 'wx_valid', '/etc/apache2', '/var/lib/apache2');
is($out, '', 'after purge: nothing in /etc/apache2 or /var/lib/apache2 names wx_valid');
($rc, $out) = in_root('find', '/etc', '/usr/lib/apache2', '/usr/share/doc',
                      '/var/lib/apache2', '/var/lib/dpkg', '-name', '*wx[-_]valid*');
is($out, '', 'after purge: no file named for it under /etc, /usr or /var/lib');
($rc, $out) = in_root('a2query', '-m', 'wx_valid');
isnt($rc, 0, 'after purge: a2query knows no wx_valid');
($rc, $out) = in_root('apache2ctl', 'configtest');
is($rc, 0, 'after purge: apache2ctl configtest still passes') or diag $out;

if ($mode eq 'overlay') {
    # Every file the whole run wrote is in the upper layer: after the
    # purge, none of them may be the package's.
    in_root('rm', '-f', $policy) if $made_policy;
    teardown();
    my @left;
    find({ no_chdir => 1, wanted => sub {
        my $p = substr $File::Find::name, length "$tmp/upper";
        push @left, $p if $p =~ /wx[-_]valid|wx-package-test/i && !-c $_;
    } }, "$tmp/upper");
    is_deeply(\@left, [], 'after purge: the throwaway root holds no file of it')
        or diag "left: @left";
    $mode = 'done';
}
done_testing();
