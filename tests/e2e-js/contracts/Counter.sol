// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// Small contract used by the end-to-end JSON-RPC test.
/// Storage layout (relied on by the test): slot 0 = count, slot 1 = owner,
/// slot 2 = label (short string).
contract Counter {
    uint256 public count;
    address public owner;
    string public label;

    event Incremented(address indexed who, uint256 by, uint256 total);
    event Deposited(address indexed from, uint256 amount);

    constructor(uint256 initial, string memory _label) {
        count = initial;
        owner = msg.sender;
        label = _label;
    }

    function increment(uint256 by) external {
        require(by > 0, "by must be positive");
        count += by;
        emit Incremented(msg.sender, by, count);
    }

    function get() external view returns (uint256) {
        return count;
    }

    function deposit() external payable {
        require(msg.value > 0, "no value");
        emit Deposited(msg.sender, msg.value);
    }
}
