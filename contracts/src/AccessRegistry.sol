// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @title AccessRegistry
/// @notice Who may read, write and administer each vault item. Items have random 32-byte ids,
///         an owner, per-account levels with optional expiry, a public flag, a key epoch (a new
///         epoch means a new content key: revoked readers never get it), an optional read
///         policy contract, and the list of published versions (manifest commitments).
/// @dev Placed in genesis as runtime code with empty storage: no constructor, no immutables.
contract AccessRegistry {
    /// @notice Permission levels, ordered: each includes the ones below.
    enum Level {
        NONE,
        READ,
        WRITE,
        ADMIN
    }

    struct Grant {
        Level level;
        uint64 expiry; // unix seconds; 0 = never
    }

    struct Version {
        bytes32 manifest;
        uint64 epoch;
        address author;
        uint64 timestamp;
    }

    struct Item {
        address owner;
        bool isPublic;
        uint64 epoch;
        address policy;
        Version[] versions;
        mapping(address => Grant) grants;
    }

    /// @dev Gas given to a policy's `canRead`: enough for a few storage reads, never a block.
    uint256 internal constant POLICY_GAS = 100_000;

    mapping(bytes32 => Item) internal items;

    event ItemCreated(bytes32 indexed item, address indexed owner, bool isPublic);
    event VersionPublished(bytes32 indexed item, uint64 index, bytes32 manifest, uint64 epoch, address indexed author);
    event Granted(bytes32 indexed item, address indexed who, Level level, uint64 expiry, address indexed by);
    event Revoked(bytes32 indexed item, address indexed who, address indexed by);
    event EpochStarted(bytes32 indexed item, uint64 epoch, address indexed by);
    event PublicSet(bytes32 indexed item, bool isPublic, address indexed by);
    event PolicySet(bytes32 indexed item, address policy, address indexed by);
    event OwnershipTransferred(bytes32 indexed item, address indexed from, address indexed to);

    /// @notice Only the item's owner may do this (transfer ownership).
    error NotOwner();
    /// @notice Needs the owner or a live ADMIN grant.
    error NotAdmin();
    /// @notice Needs WRITE or above (publish).
    error NotWriter();
    /// @notice `create` of an id that is already taken.
    error ItemExists();
    /// @notice The item does not exist.
    error NoSuchItem();
    /// @notice Nobody grants to, revokes or demotes the owner.
    error OwnerIsUntouchable();
    /// @notice An ADMIN cannot grant ADMIN, nor change or revoke another ADMIN's grant.
    error AdminCannotGrantAdmin();
    /// @notice `grant` with level NONE (use `revoke`).
    error BadLevel();
    /// @notice A non-zero expiry that is not in the future.
    error ExpiryInPast();
    /// @notice The zero address as grantee or new owner.
    error ZeroAddress();

    // ---------------------------------------------------------------- items

    /// @notice Create an item owned by the caller, in epoch 0, with no versions yet.
    /// @param item A random 32-byte id chosen by the caller.
    /// @param isPublic Whether anyone may read it.
    function create(bytes32 item, bool isPublic) external {
        Item storage it = items[item];
        if (it.owner != address(0)) revert ItemExists();
        it.owner = msg.sender;
        it.isPublic = isPublic;
        emit ItemCreated(item, msg.sender, isPublic);
    }

    /// @notice Publish a new version (needs WRITE or above), sealed in the current epoch.
    /// @param manifest The address (BLAKE3) of the version's sealed manifest.
    /// @return index The new version's index.
    function publish(bytes32 item, bytes32 manifest) external returns (uint64 index) {
        Item storage it = _item(item);
        if (_level(it, msg.sender) < Level.WRITE) revert NotWriter();
        index = uint64(it.versions.length);
        it.versions.push(Version(manifest, it.epoch, msg.sender, uint64(block.timestamp)));
        emit VersionPublished(item, index, manifest, it.epoch, msg.sender);
    }

    /// @notice Give the item to `newOwner` (owner only). The old owner keeps no access level;
    ///         like any former reader, it keeps keys it already held: call `rotateEpoch` (and
    ///         re-key) if that matters.
    function transferOwnership(bytes32 item, address newOwner) external {
        Item storage it = _item(item);
        if (msg.sender != it.owner) revert NotOwner();
        if (newOwner == address(0)) revert ZeroAddress();
        delete it.grants[newOwner];
        it.owner = newOwner;
        emit OwnershipTransferred(item, msg.sender, newOwner);
    }

    /// @notice Make the item public or private (owner or ADMIN). Going private starts a new
    ///         epoch, so content published afterwards is sealed under a key never made public.
    function setPublic(bytes32 item, bool isPublic) external {
        Item storage it = _item(item);
        _requireAdmin(it);
        bool was = it.isPublic;
        it.isPublic = isPublic;
        emit PublicSet(item, isPublic, msg.sender);
        if (was && !isPublic) _newEpoch(item, it);
    }

    /// @notice Set (or clear with address(0)) the read policy contract (owner or ADMIN).
    function setPolicy(bytes32 item, address policy) external {
        Item storage it = _item(item);
        _requireAdmin(it);
        it.policy = policy;
        emit PolicySet(item, policy, msg.sender);
    }

    // ---------------------------------------------------------------- grants

    /// @notice Grant `who` a level on the item, optionally until `expiry` (unix seconds, 0 =
    ///         never). The owner grants any level; an ADMIN grants only READ or WRITE and cannot
    ///         change another ADMIN's grant. Nobody changes the owner's access. A new grant
    ///         replaces the old one (level and expiry).
    /// @param who The grantee (not zero, not the owner).
    /// @param level READ, WRITE or ADMIN (NONE is refused: use `revoke`).
    /// @param expiry Unix seconds after which the grant counts as NONE; 0 = never.
    function grant(bytes32 item, address who, Level level, uint64 expiry) external {
        Item storage it = _item(item);
        if (who == address(0)) revert ZeroAddress();
        if (level == Level.NONE) revert BadLevel();
        if (expiry != 0 && expiry <= block.timestamp) revert ExpiryInPast();
        if (who == it.owner) revert OwnerIsUntouchable();
        if (msg.sender != it.owner) {
            _requireAdminOver(it, who);
            if (level == Level.ADMIN) revert AdminCannotGrantAdmin();
        }
        it.grants[who] = Grant(level, expiry);
        emit Granted(item, who, level, expiry, msg.sender);
    }

    /// @notice Remove `who`'s access and start a new epoch (owner, or ADMIN for READ/WRITE).
    function revoke(bytes32 item, address who) external {
        Item storage it = _item(item);
        if (who == it.owner) revert OwnerIsUntouchable();
        if (msg.sender != it.owner) _requireAdminOver(it, who);
        delete it.grants[who];
        emit Revoked(item, who, msg.sender);
        _newEpoch(item, it);
    }

    /// @notice Start a new epoch without a revocation (owner or ADMIN), e.g. after a key leak.
    function rotateEpoch(bytes32 item) external {
        Item storage it = _item(item);
        _requireAdmin(it);
        _newEpoch(item, it);
    }

    // ---------------------------------------------------------------- views

    /// @notice Whether the item exists.
    function exists(bytes32 item) external view returns (bool) {
        return items[item].owner != address(0);
    }

    /// @notice The item's owner (zero if none).
    function ownerOf(bytes32 item) external view returns (address) {
        return items[item].owner;
    }

    /// @notice `who`'s effective level: ADMIN for the owner, NONE when expired or absent.
    function levelOf(bytes32 item, address who) external view returns (Level) {
        return _level(items[item], who);
    }

    /// @notice `who`'s stored grant, expired or not.
    function grantOf(bytes32 item, address who) external view returns (Level level, uint64 expiry) {
        Grant storage g = items[item].grants[who];
        return (g.level, g.expiry);
    }

    /// @notice Whether `who` may read: public, READ or above, or the policy says so.
    function canRead(bytes32 item, address who) external view returns (bool) {
        Item storage it = items[item];
        if (it.owner == address(0)) return false;
        if (it.isPublic || _level(it, who) >= Level.READ) return true;
        if (it.policy == address(0)) return false;
        (bool ok, bytes memory out) =
            it.policy.staticcall{gas: POLICY_GAS}(abi.encodeWithSignature("canRead(bytes32,address)", item, who));
        if (!ok || out.length != 32) return false;
        return abi.decode(out, (uint256)) == 1;
    }

    /// @notice Whether `who` may publish versions (WRITE or above).
    function canWrite(bytes32 item, address who) external view returns (bool) {
        return _level(items[item], who) >= Level.WRITE;
    }

    /// @notice The item's owner, flags, epoch, policy and number of versions.
    function info(bytes32 item)
        external
        view
        returns (address owner, bool isPublic, uint64 epoch, address policy, uint64 versions)
    {
        Item storage it = _item(item);
        return (it.owner, it.isPublic, it.epoch, it.policy, uint64(it.versions.length));
    }

    /// @notice Version `index` of the item.
    function version(bytes32 item, uint64 index)
        external
        view
        returns (bytes32 manifest, uint64 epoch, address author, uint64 timestamp)
    {
        Item storage it = _item(item);
        Version storage v = it.versions[index];
        return (v.manifest, v.epoch, v.author, v.timestamp);
    }

    // ---------------------------------------------------------------- internals

    function _item(bytes32 item) internal view returns (Item storage it) {
        it = items[item];
        if (it.owner == address(0)) revert NoSuchItem();
    }

    function _level(Item storage it, address who) internal view returns (Level) {
        if (who == address(0) || it.owner == address(0)) return Level.NONE;
        if (who == it.owner) return Level.ADMIN;
        Grant storage g = it.grants[who];
        if (g.expiry != 0 && g.expiry <= block.timestamp) return Level.NONE;
        return g.level;
    }

    function _requireAdmin(Item storage it) internal view {
        if (_level(it, msg.sender) < Level.ADMIN) revert NotAdmin();
    }

    /// @dev A non-owner caller must be an ADMIN, and `who` must not hold a live ADMIN grant
    ///      (admins manage READ and WRITE only; an expired ADMIN grant counts as NONE).
    function _requireAdminOver(Item storage it, address who) internal view {
        _requireAdmin(it);
        if (_level(it, who) == Level.ADMIN) revert AdminCannotGrantAdmin();
    }

    function _newEpoch(bytes32 item, Item storage it) internal {
        it.epoch += 1;
        emit EpochStarted(item, it.epoch, msg.sender);
    }
}
