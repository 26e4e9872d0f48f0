# SPDX-License-Identifier: Apache-2.0
# `make install` (tools/install) into the httpd the suite runs on, staged
# under a DESTDIR: the files that layout expects and no others, no write
# anywhere but the DESTDIR (every file system call it and its children
# make, under strace), the LoadModule lines it prints for this server, an
# admin's own snippet kept on a second install; and `make deb` (tools/deb)
# refusing an httpd that is not Debian's.  Run under Debian's apache2 and
# under the source-built httpd of .ci/run alike (tools/httpd-build).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/lib";

use Apache::Test qw(-withtestmore);
use File::Find ();
use File::Temp qw(tempdir);
use WxTest;

my $cfg  = Apache::Test::config();
my $apxs = $cfg->{vars}{apxs};
my $top  = $cfg->{vars}{top_dir};
sub q_apxs { my $v = `'$apxs' -q $_[0]`; chomp $v; return $v }
my ($libexec, $sysconf) = (q_apxs('LIBEXECDIR'), q_apxs('SYSCONFDIR'));
my $httpd = q_apxs('SBINDIR') . '/' . q_apxs('TARGET');
my $layout = -d "$sysconf/mods-available" ? 'debian'
           : -d "$sysconf/extra"          ? 'extra' : 'other';
my ($strace) = grep { -x } map { "$_/strace" } split /:/, $ENV{PATH} // "";

# Every path the command (and its children) created, opened for writing,
# removed, renamed, linked, chmod-ed or made a directory, resolved against
# each process's working directory as strace shows it changing.
sub written_paths {
    my ($log) = @_;
    my (%cwd, @paths);
    open my $fh, '<', $log or die "$log: $!";
    while (my $l = <$fh>) {
        my ($pid, $call) = $l =~ /^(\d+)\s+(.*)$/ or next;
        next if $call =~ /= -1 /;          # failed: nothing written
        my $here = $cwd{$pid} // $top;
        # A path, relative to the working directory or to a directory fd
        # (strace -y shows that fd's path, 3</tmp/x>, and the working
        # directory's, AT_FDCWD</tmp>).
        my $at = sub {
            my ($dirfd, $p) = @_;
            return $p if $p =~ m{^/};
            my $base = defined $dirfd && $dirfd =~ /^(?:\d+|AT_FDCWD)<(.*)>$/ ? $1 : $here;
            return "$base/$p";
        };
        my $D = qr/(AT_FDCWD(?:<[^>]*>)?|\d+<[^>]*>)/;
        my @m;
        if (@m = $call =~ /^chdir\("([^"]*)"\)/) {
            $cwd{$pid} = $at->(undef, $m[0]);
        } elsif (@m = $call =~ /^fchdir\(\d+<([^>]*)>\)/) {
            $cwd{$pid} = $m[0];
        } elsif (@m = $call =~ /^(?:clone3?|vfork|fork)\(.*= (\d+)/) {
            $cwd{$m[0]} = $here;
        } elsif (@m = $call =~ /^open\("([^"]*)", ([A-Z_|]+)/) {
            push @paths, $at->(undef, $m[0]) if $m[1] =~ /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/;
        } elsif (@m = $call =~ /^openat\($D, "([^"]*)", ([A-Z_|]+)/) {
            push @paths, $at->(@m[0, 1]) if $m[2] =~ /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/;
        } elsif (@m = $call =~ /^(?:mkdir|unlink|rmdir|chmod|truncate|creat)\("([^"]*)"/) {
            push @paths, $at->(undef, $m[0]);
        } elsif (@m = $call =~ /^(?:rename|link|symlink)\("([^"]*)", "([^"]*)"/) {
            push @paths, $at->(undef, $m[0]), $at->(undef, $m[1]);
        } elsif (@m = $call =~ /^(?:mkdirat|unlinkat|fchmodat|utimensat)\($D, "([^"]*)"/) {
            push @paths, $at->(@m);
        } elsif (@m = $call =~ /^(?:renameat2?|linkat)\($D, "([^"]*)", $D, "([^"]*)"/) {
            push @paths, $at->(@m[0, 1]), $at->(@m[2, 3]);
        } elsif ($call =~ /^(?:open|openat|mkdir|mkdirat|unlink|unlinkat|rmdir|chmod|fchmodat|truncate|creat|rename|renameat2?|link|linkat|symlink|symlinkat|utimensat)\(/) {
            push @paths, "(a call this test does not parse: $call)";
        }
    }
    return @paths;
}

sub files_under {
    my ($dir) = @_;
    my @f;
    File::Find::find({ no_chdir => 1, wanted => sub {
        push @f, substr($File::Find::name, length $dir) if -f $File::Find::name } }, $dir);
    return sort @f;
}

# One staged install: (exit status, output, paths written).
sub install {
    my ($dest) = @_;
    my $log = "$dest.strace";
    my @cmd = ('env', "APXS=$apxs", "DESTDIR=$dest", "$top/tools/install");
    # (--seccomp-bpf: the traced process stops only at these calls.)
    @cmd = ($strace, '-f', '--seccomp-bpf', '-qq', '-y', '-o', $log, '-e',
            'trace=open,openat,creat,mkdir,mkdirat,rmdir,unlink,unlinkat,'
            . 'rename,renameat,renameat2,link,linkat,symlink,chmod,fchmodat,'
            . 'truncate,utimensat,chdir,fchdir,clone,clone3,fork,vfork', @cmd)
        if $strace;
    my $out = `cd '$top' && @{[ join ' ', map { "'$_'" } @cmd ]} 2>&1`;
    my $rc = $? >> 8;
    return ($rc, $out, $strace ? [written_paths($log)] : undef);
}

my $tmp  = tempdir(CLEANUP => 1);
my $dest = "$tmp/stage";
my ($rc, $out, $paths) = install($dest);
is($rc, 0, "make install DESTDIR=... APXS=$apxs: exit 0") or diag $out;

my @want = ("$libexec/mod_wx_valid.so");
push @want, map { "$sysconf/mods-available/wx_valid.$_" } qw(conf load)
    if $layout eq 'debian';
push @want, "$sysconf/extra/httpd-wx_valid.conf",
            (-d "$sysconf/original" ? "$sysconf/original/extra/httpd-wx_valid.conf" : ())
    if $layout eq 'extra';
is_deeply([files_under($dest)], [sort @want],
          "$layout layout: exactly the module and its configuration, under DESTDIR");

SKIP: {
    skip('no strace here (tools/deps installs it): writes not traced', 2) unless $paths;
    ok(scalar @$paths, 'strace saw the install write');
    my @outside = grep { !m{^\Q$dest\E(?:/|$)} && $_ ne '/dev/null' && $_ ne '/dev/tty' } @$paths;
    is_deeply(\@outside, [], 'nothing written outside DESTDIR (every file call, traced)')
        or diag join "\n", @outside;
}

# What the server has of a module now, found here on our own: compiled in
# (httpd -l), enabled (Debian's mods-enabled/), loaded (httpd's own
# reading of its configuration), or what the main configuration file has
# of the LoadModule line.
my ($mainconf) = `'$httpd' -V 2>/dev/null` =~ /-D SERVER_CONFIG_FILE="([^"]*)"/;
my ($root) = `'$httpd' -V 2>/dev/null` =~ /-D HTTPD_ROOT="([^"]*)"/;
$mainconf = "$root/$mainconf" unless $mainconf =~ m{^/};
my $conftext = do { local (@ARGV, $/) = ($mainconf); <> // '' };
my $builtin = `'$httpd' -l`;
# What that configuration loads, as httpd itself reads it (includes,
# <IfDefine> and all), for the source layout: httpd -t -D DUMP_MODULES.
my $loaded = $layout eq 'debian' ? ''
           : `'$httpd' -t -D DUMP_MODULES -f '$mainconf' 2>/dev/null`;
sub has_now {
    my ($m) = @_;
    return 'compiled in' if $builtin =~ /^\s*mod_\Q$m\E\.c$/m;
    return -e "$sysconf/mods-enabled/$m.load" ? 'enabled' : 'not enabled'
        if $layout eq 'debian';
    return "loaded in $mainconf" if $loaded =~ /^ \Q$m\E_module \(shared\)$/m;
    return "commented out in $mainconf: uncomment it"
        if $conftext =~ /^\s*#\s*LoadModule\s+\Q$m\E_module\s/m;
    return "not in $mainconf: add it";
}
# The lines printed: the module's, and each feature's, for this server.
sub modpath {
    my $so = "$libexec/mod_$_[0].so";
    $so =~ s{^\Q$root\E/}{} if $root;
    return $so;
}
my @features = qw(authz_core socache_shmcb proxy proxy_http proxy_fcgi status);
if ($layout eq 'debian') {
    like($out, qr/^Enable it with: a2enmod wx_valid\b/m, 'Debian: says a2enmod wx_valid');
    for my $m (@features) {
        my $now = has_now($m);
        like($out, qr/^    a2enmod \Q$m\E +# \Q$now\E$/m, "Debian: a2enmod $m ($now)");
    }
} else {
    like($out, qr/^    Include conf\/extra\/httpd-wx_valid\.conf$/m,
         'source layout: the Include line') if $layout eq 'extra';
    for my $m ('wx_valid', @features) {
        my $line = "LoadModule ${m}_module " . modpath($m);
        my $now = has_now($m);
        like($out, qr/^    \Q$line\E +# \Q$now\E$/m, "source layout: '$line' ($now)");
    }
    if ($layout eq 'extra') {
        my $snip = "$dest$sysconf/extra/httpd-wx_valid.conf";
        open my $fh, '<', $snip or die "$snip: $!";
        my $text = do { local $/; <$fh> };
        like($text, qr/^LoadModule wx_valid_module \Q${\ modpath('wx_valid')}\E$/m,
             'the snippet loads the module');
        like($text, qr/^\s*LogLevel wx_valid:info$/m, 'the snippet sets LogLevel wx_valid:info');

        # A second install keeps the admin's snippet; original/ has ours.
        open $fh, '>>', $snip or die; print $fh "# the admin's line\n"; close $fh;
        my ($rc2, $out2) = install($dest);
        is($rc2, 0, 'a second make install: exit 0') or diag $out2;
        like($out2, qr/^Kept your \S+extra\/httpd-wx_valid\.conf/m, 'a second install says it kept the snippet');
        open $fh, '<', $snip or die; my $after = do { local $/; <$fh> };
        like($after, qr/^# the admin's line$/m, "the admin's snippet is kept as it was");
    }
}

# make deb: only against Debian's apxs (with which t/package/deb.pl
# builds the package; it is not built again here).
if (system("'$top/tools/debian-apxs' '$apxs' >/dev/null") == 0) {
    pass("$apxs is Debian's: make deb builds with it (t/package/deb.pl)");
} else {
    my $deb = `cd '$top' && APXS='$apxs' tools/deb 2>&1 </dev/null >/dev/null; echo "rc=\$?"`;
    like($deb, qr/^tools\/deb: refusing APXS=\S+: the Debian package is built against Debian's apache2-dev/m,
         'make deb with another httpd: refused, with the reason');
    like($deb, qr/rc=1$/, 'make deb with another httpd: exit 1');
}

done_testing();
