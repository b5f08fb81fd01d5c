# The aegis image: `aegis controller` by default; the same image runs aegis's in-host agents.
#
# Build it with scripts/build-image.sh, which makes the Debian base locally (debootstrap, no
# registry needed) and passes a build context holding only the `aegis` binary (built by
# cargo beforehand: target/release/aegis, or any --binary). By hand:
#
#   docker build --build-arg BASE=aegis-base:bookworm -t aegis:dev CONTEXT   # CONTEXT/aegis
#
# The final stage is `scratch` with the binary, the shared libraries `ldd` says it needs
# (taken from the Debian base the binary was built for), the CA certificates and a passwd
# entry for the unprivileged user: no shell, no package manager, nothing else to patch.
# Works with the classic builder of Docker 20.10 (no BuildKit features).

ARG BASE=aegis-base:bookworm

FROM ${BASE} AS rootfs
COPY aegis /rootfs/usr/local/bin/aegis
RUN set -eu; \
    chmod 0755 /rootfs/usr/local/bin/aegis; \
    for lib in $(ldd /rootfs/usr/local/bin/aegis | grep -o '/[^ ]*'); do \
        mkdir -p "/rootfs$(dirname "$lib")"; \
        cp -L "$lib" "/rootfs$lib"; \
    done; \
    mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp /rootfs/var/lib/aegis/state /rootfs/source; \
    cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/; \
    printf 'root:x:0:0:root:/root:/nonexistent\naegis:x:10001:10001:aegis:/var/lib/aegis:/nonexistent\n' \
        > /rootfs/etc/passwd; \
    printf 'root:x:0:\naegis:x:10001:\n' > /rootfs/etc/group; \
    printf 'hosts: files dns\n' > /rootfs/etc/nsswitch.conf; \
    chown -R 10001:10001 /rootfs/var/lib/aegis; \
    chmod 1777 /rootfs/tmp; \
    /rootfs/usr/local/bin/aegis --version

FROM scratch
COPY --from=rootfs /rootfs/ /
# The Docker socket is root:docker 0660 on the host: run with `group_add: [<its gid>]`
# (`stat -c %g /var/run/docker.sock`) to reach it without root. See manifests/README.md.
USER 10001:10001
ENV HOME=/var/lib/aegis \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    AEGIS_SOURCE=/source
WORKDIR /var/lib/aegis
VOLUME ["/var/lib/aegis"]
EXPOSE 7443
# GET /readyz from inside the container (reads AEGIS_API and AEGIS_TLS_CERT like the
# controller): healthy once a revision is accepted and the loop runs.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/aegis", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/aegis"]
CMD ["controller", "--state-dir", "/var/lib/aegis/state"]
